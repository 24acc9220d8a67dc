//! YAML: `resolve-yaml` against golden files (formatting kept byte for
//! byte), `rko resolve` building into a real registry, `rko apply` feeding
//! the real kubectl, and the errors.

use crate::util::kube::{kubeconfig, KubeApi};
use crate::util::registry::{Auth, Registry};
use crate::util::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> PathBuf {
    repo_root().join("tests/data/resolve").join(name)
}

fn resolve_yaml(file: &Path) -> Command {
    let mut cmd = rko();
    cmd.arg("resolve-yaml")
        .arg("-f")
        .arg(file)
        .arg("--images")
        .arg(data("images.json"));
    cmd
}

/// Every document of a YAML stream as data.
fn documents(text: &str) -> Vec<serde_norway::Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect()
}

/// `value` with every `ko://X` string replaced as the images map says.
fn substitute(value: serde_norway::Value, map: &BTreeMap<String, String>) -> serde_norway::Value {
    use serde_norway::Value as V;
    match value {
        V::String(s) => match s.strip_prefix("ko://").and_then(|ip| map.get(ip)) {
            Some(reference) => V::String(reference.clone()),
            None => V::String(s),
        },
        V::Sequence(items) => V::Sequence(items.into_iter().map(|v| substitute(v, map)).collect()),
        V::Mapping(m) => V::Mapping(
            m.into_iter()
                .map(|(k, v)| (substitute(k, map), substitute(v, map)))
                .collect(),
        ),
        V::Tagged(t) => V::Tagged(Box::new(serde_norway::value::TaggedValue {
            tag: t.tag,
            value: substitute(t.value, map),
        })),
        other => other,
    }
}

fn images_map() -> BTreeMap<String, String> {
    let map: BTreeMap<String, String> =
        serde_json::from_str(&fs::read_to_string(data("images.json")).unwrap()).unwrap();
    map.into_iter()
        .map(|(k, v)| (k.trim_start_matches("ko://").to_string(), v))
        .collect()
}

#[test]
fn resolve_yaml_matches_the_golden_files_and_keeps_the_structure() {
    for case in [
        "comments-and-styles",
        "anchors-and-documents",
        "crlf",
        "no-references",
    ] {
        let input = data(&format!("{case}.yaml"));
        let out = resolve_yaml(&input).arg("--strict").output().unwrap();
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let golden = fs::read(data(&format!("{case}.golden"))).unwrap();
        assert!(
            out.stdout == golden,
            "{case}: output differs from {case}.golden:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let before = documents(&fs::read_to_string(&input).unwrap());
        let after = documents(&String::from_utf8(out.stdout).unwrap());
        let expected: Vec<_> = before
            .into_iter()
            .map(|d| substitute(d, &images_map()))
            .collect();
        assert_eq!(
            after, expected,
            "{case}: same structure, references replaced"
        );
    }
    assert_eq!(
        fs::read(data("no-references.golden")).unwrap(),
        fs::read(data("no-references.yaml")).unwrap()
    );
}

#[test]
fn missing_references_warn_or_fail_under_strict() {
    let (stdout, stderr) = run_ok_with_stderr(&mut resolve_yaml(&data("missing.yaml")));
    assert!(
        stderr.contains("warning") && stderr.contains("ko://example.com/app/cmd/unknown"),
        "{stderr}"
    );
    assert!(
        stdout.contains("image: ko://example.com/app/cmd/unknown")
            && stdout.contains("other: registry.example/web@"),
        "{stdout}"
    );
    let err = run_err(resolve_yaml(&data("missing.yaml")).arg("--strict"));
    assert!(
        err.contains("has no image for: ko://example.com/app/cmd/unknown"),
        "{err}"
    );
}

#[test]
fn bad_yaml_and_bad_inputs_are_named() {
    let dir = temp_dir();
    let bad = dir.path().join("bad.yaml");
    fs::write(&bad, "a: 1\nb: [unclosed\nc: 2\n").unwrap();
    let err = run_err(&mut resolve_yaml(&bad));
    assert!(
        err.contains("bad.yaml:3:") && err.contains("invalid YAML"),
        "{err}"
    );
    let err = run_err(&mut resolve_yaml(&dir.path().join("nope.yaml")));
    assert!(
        err.contains("nope.yaml") && err.contains("No such file"),
        "{err}"
    );
    let out = dir.path().join("missing-dir/out.yaml");
    let err = run_err(resolve_yaml(&data("crlf.yaml")).arg("--out").arg(&out));
    assert!(err.contains("does not exist"), "{err}");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    fs::write(empty.join("README.md"), "not yaml").unwrap();
    let err = run_err(
        porcelain(dir.path())
            .arg("resolve")
            .arg("-f")
            .arg(&empty)
            .arg("--push=false"),
    );
    assert!(err.contains("no YAML files"), "{err}");
}

/// `rko resolve`/`apply` (the `verb`) in a copy of examples/multi, with
/// examples/k8s, isolated with its state under `dir`.
fn rko_porcelain(dir: &Path, verb: &str) -> Command {
    let module = dir.join("multi");
    if !module.exists() {
        copy_tree(&repo_root().join("examples/multi"), &module);
    }
    let mut cmd = porcelain(dir);
    cmd.current_dir(&module)
        .arg(verb)
        .arg("-f")
        .arg(repo_root().join("examples/k8s"));
    cmd
}

#[test]
fn resolve_builds_the_examples_into_a_registry_and_the_references_pull() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let mut cmd = rko_porcelain(dir.path(), "resolve");
    let out = run_ok(cmd.env("KO_DOCKER_REPO", format!("{}/k8s", registry.host())));
    let source = fs::read_to_string(repo_root().join("examples/k8s/app.yaml")).unwrap();
    assert_eq!(out.lines().count(), source.lines().count(), "line for line");
    assert!(
        out.contains("# built from examples/multi"),
        "comments kept: {out}"
    );
    let images: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .map(|i| i.split_whitespace().next().unwrap().trim_matches('"'))
        .collect();
    assert_eq!(images.len(), 2, "{out}");
    for image in images {
        assert!(
            image.starts_with(&format!("{}/k8s/", registry.host())) && image.contains("@sha256:"),
            "{image}"
        );
        run_ok(skopeo("inspect").arg(format!("docker://{image}")));
    }
    // -l keeps only the matching documents.
    let mut cmd = rko_porcelain(dir.path(), "resolve");
    let out = run_ok(
        cmd.env("KO_DOCKER_REPO", format!("{}/k8s", registry.host()))
            .args(["-l", "app=api"]),
    );
    assert!(
        out.contains("name: api") && !out.contains("name: web"),
        "{out}"
    );
}

#[test]
fn apply_pipes_the_resolved_yaml_into_kubectl() {
    let kubectl = require("kubectl");
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let api = KubeApi::start();
    let kubeconfig = kubeconfig(dir.path(), api.port);
    let mut cmd = rko_porcelain(dir.path(), "apply");
    let out = run_ok(
        cmd.env("KO_DOCKER_REPO", format!("{}/k8s", registry.host()))
            .env("KUBECONFIG", &kubeconfig)
            .env("KUBECTL", &kubectl)
            .args(["--", "--dry-run=client", "--validate=false", "-o", "yaml"]),
    );
    // kubectl printed the objects it received: with digests, not ko://.
    assert!(!out.contains("ko://"), "{out}");
    assert_eq!(
        out.matches(&format!("image: {}/k8s/", registry.host()))
            .count(),
        2,
        "{out}"
    );
    assert!(out.contains("@sha256:"), "{out}");
    assert!(
        api.requests()
            .iter()
            .any(|r| r.starts_with("GET /apis/apps/v1")),
        "kubectl talked to the API"
    );

    // Without kubectl: a clear error.
    let mut cmd = rko_porcelain(dir.path(), "apply");
    let err = run_err(
        cmd.env("KO_DOCKER_REPO", format!("{}/k8s", registry.host()))
            .env("KUBECTL", "/nonexistent/kubectl"),
    );
    assert!(err.contains("kubectl is not installed"), "{err}");
}

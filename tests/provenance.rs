//! Provenance (issue 25): `rko build` attaches an in-toto Statement v1
//! with a SLSA Provenance v1 predicate to each image, as an OCI referrer
//! and in cosign's `sha256-<hex>.att` layout; the real cosign finds it
//! (and, signed with `--sign-key`, verifies it), in-toto's own model
//! (in-toto-attestation, from PyPI) accepts it, and the same sources give
//! the same statement bytes in any directory. `rko verify` rebuilds an
//! image (each image of an index, one built by Bazel too) and passes on an
//! identical rebuild, or names what differs: a Go file, the tree against
//! the recorded revision, SOURCE_DATE_EPOCH, the base image's digest.

use crate::util::registry::{Auth, Registry};
use crate::util::*;
use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

/// examples/deps (real third-party modules) copied to `dir/name`.
fn deps_module(dir: &Path, name: &str) -> PathBuf {
    let module = dir.join(name);
    std::fs::create_dir_all(dir).unwrap();
    copy_tree(&repo_root().join("examples/deps"), &module);
    module
}

/// `rko build` of `module` pushed to `repository`, at a fixed
/// SOURCE_DATE_EPOCH; returns the printed `repo@digest`.
fn build_pushed(module: &Path, state: &Path, repository: &str, extra: &[&str]) -> String {
    let mut cmd = rko_build(module, state);
    cmd.env("KO_DOCKER_REPO", repository)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("GOFLAGS", "-mod=mod")
        .args(["--bare", "--insecure-registry"])
        .args(extra)
        .arg(".");
    run_ok(&mut cmd).trim().to_string()
}

/// The statement inside a DSSE envelope's JSON text.
fn payload(envelope: &str) -> Vec<u8> {
    let envelope = json(envelope);
    assert_eq!(
        envelope["payloadType"], "application/vnd.in-toto+json",
        "{envelope}"
    );
    base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap()
}

/// What `cosign download attestation` prints for `reference`: one envelope.
fn cosign_attestation(reference: &str) -> String {
    run_ok(
        Command::new(peer("cosign"))
            .args(["download", "attestation", "--allow-http-registry"])
            .arg(reference),
    )
}

/// in-toto-attestation's python model (the validators venv that
/// scripts/test fills): parses the statement as a Statement v1 and its
/// predicate as a SLSA Provenance v1, and checks the fields SLSA requires.
fn check_with_in_toto(statement: &[u8]) {
    let python = repo_root().join("target/validators/bin/python");
    assert!(
        python.is_file(),
        "in-toto-attestation is missing ({}): run scripts/test, which installs it there",
        python.display()
    );
    let script = r#"
import json, sys
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
text = sys.stdin.read()
statement = Statement.copy_from_pb(json_format.Parse(text, statement_pb2.Statement()))
statement.validate()
predicate = json.dumps(json.loads(text)["predicate"])
provenance = json_format.Parse(predicate, provenance_pb2.Provenance())
definition = provenance.build_definition
assert definition.build_type, "buildDefinition.buildType"
assert len(definition.external_parameters.fields) > 0, "buildDefinition.externalParameters"
assert provenance.run_details.builder.id, "runDetails.builder.id"
for dependency in definition.resolved_dependencies:
    assert dependency.uri or dependency.digest or dependency.name, dependency
print(statement.pb.predicate_type)
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(statement).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "in-toto-attestation refused the statement: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(statement)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), SLSA_V1);
}

#[test]
fn a_pushed_image_has_provenance_cosign_and_in_toto_read() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = deps_module(dir.path(), "deps");
    let ko_yaml = "defaultPlatforms: [linux/amd64]\n";
    std::fs::write(module.join(".ko.yaml"), ko_yaml).unwrap();
    let repository = format!("{}/prov", registry.host());
    let pushed = build_pushed(&module, &dir.path().join("state"), &repository, &[]);
    let digest = pushed.rsplit_once('@').unwrap().1.to_string();

    let envelope = cosign_attestation(&pushed);
    let statement = payload(envelope.trim());
    check_with_in_toto(&statement);
    let value = json(std::str::from_utf8(&statement).unwrap());
    assert_eq!(value["predicateType"], SLSA_V1);
    assert_eq!(
        value["subject"][0]["digest"]["sha256"],
        digest.trim_start_matches("sha256:")
    );
    let definition = &value["predicate"]["buildDefinition"];
    let params = &definition["externalParameters"];
    assert_eq!(params["platform"], "linux/amd64", "{value}");
    assert_eq!(params["sourceDateEpoch"], "1700000000", "{value}");
    assert_eq!(params["baseImage"], "builtin:static", "{value}");
    assert_eq!(
        params["koYaml"]["sha256"],
        crate::readers::sha256_hex(ko_yaml.as_bytes()),
        "{value}"
    );
    let go_version = run_ok(go().args(["env", "GOVERSION"]));
    assert_eq!(
        definition["internalParameters"]["goVersion"],
        go_version.trim()
    );
    let dependencies = definition["resolvedDependencies"].to_string();
    for module in ["github.com/go-chi/chi/v5", "github.com/google/uuid"] {
        assert!(dependencies.contains(module), "{module}: {dependencies}");
    }
    assert!(dependencies.contains("dirHash"), "{dependencies}");
    assert_eq!(
        value["predicate"]["runDetails"]["builder"]["version"]["rko"],
        env!("CARGO_PKG_VERSION")
    );

    // The OCI referrer (the tag schema: distribution 2.8 has no referrers
    // API) carries the same envelope.
    let hex = digest.trim_start_matches("sha256:");
    let raw = |reference: &str| {
        json(&run_ok(
            skopeo("inspect")
                .arg("--raw")
                .arg(format!("docker://{reference}")),
        ))
    };
    let referrers = raw(&format!("{repository}:sha256-{hex}"));
    let attestation = referrers["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["artifactType"] == "application/vnd.in-toto+json")
        .unwrap_or_else(|| panic!("no in-toto referrer: {referrers}"));
    let manifest = raw(&format!(
        "{repository}@{}",
        attestation["digest"].as_str().unwrap()
    ));
    assert_eq!(manifest["subject"]["digest"], digest.as_str());
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.dsse.envelope.v1+json");
    assert_eq!(layer["annotations"]["predicateType"], SLSA_V1);
    assert_eq!(
        layer["digest"],
        sha256_digest(envelope.trim().as_bytes()),
        "the referrer's layer is the envelope cosign reads"
    );
}

#[test]
fn provenance_none_attaches_nothing() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = tiny_hello(&dir.path().join("hello"));
    let repository = format!("{}/none", registry.host());
    let pushed = build_pushed(
        &module,
        &dir.path().join("state"),
        &repository,
        &["--provenance=none"],
    );
    let digest = pushed.rsplit_once('@').unwrap().1;
    let tags = listed_tags(&repository);
    let att = format!("{}.att", digest.replace(':', "-"));
    assert!(!tags.contains(&att), "{tags:?}");
    let (ok, stdout, stderr) = verify(&module, &dir.path().join("state"), &pushed, &[]);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains(&format!("{att}: no provenance for {digest}")),
        "{stderr}"
    );
}

#[test]
fn the_same_sources_in_two_directories_give_the_same_statement() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let statements: Vec<Vec<u8>> = ["one", "two"]
        .iter()
        .map(|name| {
            let module = deps_module(&dir.path().join(name), "deps");
            let repository = format!("{}/same-{name}", registry.host());
            let state = dir.path().join(name).join("state");
            let pushed = build_pushed(&module, &state, &repository, &[]);
            payload(cosign_attestation(&pushed).trim())
        })
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&statements[0]),
        String::from_utf8_lossy(&statements[1])
    );
}

/// `rko verify REF` in `module`, its state under `state`; (success,
/// stdout, stderr).
fn verify(
    module: &Path,
    state: &Path,
    reference: &str,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let mut cmd = porcelain(state);
    cmd.current_dir(module).env("GOFLAGS", "-mod=mod").args([
        "verify",
        "--insecure-registry",
        reference,
    ]);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_passes_on_a_clean_rebuild_elsewhere_and_names_what_changed() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = deps_module(&dir.path().join("built"), "deps");
    let repository = format!("{}/verify", registry.host());
    let pushed = build_pushed(&module, &dir.path().join("built/state"), &repository, &[]);

    // Another checkout of the same sources, another cache: identical.
    let elsewhere = deps_module(&dir.path().join("elsewhere"), "deps");
    let state = dir.path().join("elsewhere/state");
    let (ok, stdout, stderr) = verify(&elsewhere, &state, &pushed, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("verified: example.com/deps for linux/amd64"),
        "{stdout}"
    );

    // Another SOURCE_DATE_EPOCH: named.
    let (ok, stdout, _) = verify(
        &elsewhere,
        &state,
        &pushed,
        &[("SOURCE_DATE_EPOCH", "1800000000")],
    );
    assert!(!ok, "{stdout}");
    assert!(stdout.starts_with("differs: example.com/deps"), "{stdout}");
    assert!(
        stdout.contains(
            "likely cause: SOURCE_DATE_EPOCH: 1700000000 in the image, 1800000000 in the rebuild"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("first difference: config field created"),
        "{stdout}"
    );

    // A changed Go file: the binary's tar entry, and a source file as the cause.
    let main = elsewhere.join("main.go");
    let source = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, source.replace("Hello from rko!", "Hello, changed")).unwrap();
    let (ok, stdout, _) = verify(&elsewhere, &state, &pushed, &[]);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("tar entry /ko-app/deps: its content differs"),
        "{stdout}"
    );
    assert!(stdout.contains("likely cause: a source file"), "{stdout}");
}

#[test]
fn verify_names_a_base_image_that_moved() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let base = format!("{}/base:stable", registry.host());
    let push_base = |name: &str, bytes: &[u8]| {
        let image = image_with_file(dir.path(), name, bytes, "etc/base-version");
        run_ok(
            rko_in(&dir.path().join("docker"))
                .arg("push")
                .arg(&image)
                .arg(&base),
        );
    };
    push_base("first", b"1\n");
    let module = tiny_hello(&dir.path().join("hello"));
    let repository = format!("{}/on-base", registry.host());
    let state = dir.path().join("state");
    let pushed = build_pushed(&module, &state, &repository, &["--base-image", &base]);
    let (ok, stdout, stderr) = verify(&module, &state, &pushed, &[]);
    assert!(ok, "{stdout}\n{stderr}");

    push_base("second", b"2\n");
    let (ok, stdout, _) = verify(&module, &state, &pushed, &[]);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains(&format!("likely cause: the base image: {base}@sha256:")),
        "{stdout}"
    );
    assert!(stdout.contains("first difference: "), "{stdout}");
}

#[test]
fn a_statement_signed_with_a_cosign_key_passes_cosign_verify_attestation() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for prefix in ["cosign", "other"] {
        run_ok(
            Command::new(peer("cosign"))
                .args(["generate-key-pair", "--output-key-prefix", prefix])
                .env("COSIGN_PASSWORD", "not-a-secret")
                .current_dir(&keys),
        );
    }
    let module = tiny_hello(&dir.path().join("hello"));
    let repository = format!("{}/signed", registry.host());
    let mut cmd = rko_build(&module, &dir.path().join("state"));
    cmd.env("KO_DOCKER_REPO", &repository)
        .env("COSIGN_PASSWORD", "not-a-secret")
        .args(["--bare", "--sign-key"])
        .arg(keys.join("cosign.key"))
        .arg(".");
    let pushed = run_ok(&mut cmd).trim().to_string();
    // cosign's own check, offline: the signature over the envelope's PAE
    // with the public key, the statement's subject is the image, its
    // predicate type SLSA v1 (`--type slsaprovenance1`).
    let verify_with = |key: &str| {
        let mut cmd = Command::new(peer("cosign"));
        cmd.args(["verify-attestation", "--key"])
            .arg(keys.join(key))
            .args([
                "--type",
                "slsaprovenance1",
                "--insecure-ignore-tlog",
                "--allow-http-registry",
                "--offline",
            ])
            .arg(&pushed);
        cmd
    };
    let verified = run_ok(&mut verify_with("cosign.pub"));
    run_err(&mut verify_with("other.pub"));
    let envelope = json(verified.lines().next().unwrap());
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");

    // The wrong password is refused, naming the key file.
    let mut cmd = rko_build(&module, &dir.path().join("state"));
    cmd.env("KO_DOCKER_REPO", &repository)
        .env("COSIGN_PASSWORD", "wrong")
        .args(["--bare", "--sign-key"])
        .arg(keys.join("cosign.key"))
        .arg(".");
    let err = run_err(&mut cmd);
    assert!(
        err.contains("cosign.key") && err.contains("does not open with this password"),
        "{err}"
    );
}

#[test]
fn verify_checks_each_image_of_an_index() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = tiny_hello(&dir.path().join("hello"));
    let repository = format!("{}/index", registry.host());
    let state = dir.path().join("state");
    let platforms = "--platform=linux/amd64,linux/arm64";
    let pushed = build_pushed(&module, &state, &repository, &[platforms]);
    // Each image has its statement where cosign looks.
    let index = json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{pushed}")),
    ));
    for child in index["manifests"].as_array().unwrap() {
        let child = format!("{repository}@{}", child["digest"].as_str().unwrap());
        let statement = payload(cosign_attestation(&child).trim());
        check_with_in_toto(&statement);
    }
    let (ok, stdout, stderr) = verify(&module, &dir.path().join("again"), &pushed, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    let verified: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("verified: "))
        .collect();
    assert_eq!(verified.len(), 2, "{stdout}");
    assert!(
        verified[0].contains("for linux/amd64") && verified[1].contains("for linux/arm64"),
        "{stdout}"
    );
}

/// The Bazel example with `provenance = True` on a two-platform ko_image:
/// `bazel run` of its ko_push pushes each image's statement where cosign
/// finds it, and `rko verify` in the sources' directory rebuilds each
/// image identically (Bazel and `rko build` agree byte for byte).
#[test]
fn an_image_built_by_bazel_with_provenance_verifies() {
    use crate::util::bazel::{rko_repo_in, Hello, Workspace};
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let rko_repo = rko_repo_in(dir.path(), Hello::Example);
    let ws = Workspace::copy(dir.path(), "ws", "bazel-root", &rko_repo);
    ws.share_go_builds();
    ws.append(
        "BUILD.bazel",
        r#"
ko_image(
    name = "image_provenance",
    binary = ":hello",
    created = CREATED,
    importpath = "example.com/hello",
    layers = [":kodata"],
    platforms = [
        "@rko//rules/platforms:linux_amd64",
        "@rko//rules/platforms:linux_arm64",
    ],
    provenance = True,
)

ko_push(
    name = "push_provenance",
    image = ":image_provenance",
    repository = "",
    tags = ["latest"],
)
"#,
    );
    let repository = format!("{}/hello", registry.host());
    run_ok(
        ws.bazel()
            .args([
                "run",
                "//:push_provenance",
                "--",
                "--repository",
                &repository,
            ])
            .env("DOCKER_CONFIG", dir.path().join("docker")),
    );
    let index = json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{repository}:latest")),
    ));
    for child in index["manifests"].as_array().unwrap() {
        let child = format!("{repository}@{}", child["digest"].as_str().unwrap());
        let statement = payload(cosign_attestation(&child).trim());
        check_with_in_toto(&statement);
    }
    let (ok, stdout, stderr) = verify(
        &rko_repo.join("examples/hello"),
        &dir.path().join("state"),
        &format!("{repository}:latest"),
        &[("GOFLAGS", "-buildvcs=false")],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("verified: "))
            .count(),
        2,
        "{stdout}"
    );
}

/// `git` in `dir` with a fixed identity and dates.
fn git(dir: &Path, args: &[&str]) -> String {
    run_ok(
        Command::new(require("git"))
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "rko test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "rko test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("GIT_AUTHOR_DATE", "2023-11-14T22:13:20Z")
            .env("GIT_COMMITTER_DATE", "2023-11-14T22:13:20Z"),
    )
}

#[test]
fn verify_says_how_the_working_tree_differs_from_the_recorded_revision() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = tiny_hello(&dir.path().join("hello"));
    git(&module, &["init", "-q"]);
    git(&module, &["add", "."]);
    git(&module, &["commit", "-q", "-m", "hello"]);
    let revision = git(&module, &["rev-parse", "HEAD"]).trim().to_string();
    let repository = format!("{}/in-git", registry.host());
    let state = dir.path().join("state");
    let pushed = build_pushed(&module, &state, &repository, &[]);
    let statement = payload(cosign_attestation(&pushed).trim());
    let value = json(std::str::from_utf8(&statement).unwrap());
    let source = &value["predicate"]["buildDefinition"]["externalParameters"]["source"];
    assert_eq!(source["revision"], revision.as_str(), "{value}");
    assert_eq!(source["clean"], true, "{value}");
    let (ok, stdout, stderr) = verify(&module, &state, &pushed, &[]);
    assert!(ok, "{stdout}\n{stderr}");

    std::fs::write(
        module.join("main.go"),
        "package main\n\nfunc main() { println(1) }\n",
    )
    .unwrap();
    let (ok, stdout, _) = verify(&module, &state, &pushed, &[]);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("the working tree has uncommitted changes: M main.go"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "likely cause: the source tree: revision {revision} in the image, \
             revision {revision} with uncommitted changes in the rebuild"
        )),
        "{stdout}"
    );
}

/// examples/make with its provenance step: `make push` pushes the image
/// and its statement, and `rko verify` from the same sources verifies it.
#[test]
fn an_image_built_by_make_with_provenance_verifies() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let hello = dir.path().join("hello");
    copy_tree(&repo_root().join("examples/hello"), dir.path());
    let out = dir.path().join("out");
    let repository = format!("{}/make", registry.host());
    run_ok(
        Command::new(require("make"))
            .current_dir(repo_root().join("examples/make"))
            .arg(format!("RKO={}", env!("CARGO_BIN_EXE_rko")))
            .arg(format!("GO={}", require("go").display()))
            .arg(format!("OUT={}", out.display()))
            .arg(format!("HELLO={}", hello.display()))
            .arg(format!("REPO={repository}"))
            .arg("SOURCE_DATE_EPOCH=1700000000")
            .arg("push")
            .env("GOCACHE", gocache())
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("DOCKER_CONFIG", dir.path().join("docker")),
    );
    let digest = std::fs::read_to_string(out.join("pushed.digest")).unwrap();
    let pushed = format!("{repository}@{}", digest.trim());
    check_with_in_toto(&payload(cosign_attestation(&pushed).trim()));
    let (ok, stdout, stderr) = verify(
        &hello,
        &dir.path().join("state"),
        &pushed,
        &[("GOFLAGS", "-buildvcs=false")],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("verified: example.com/hello for linux/amd64"),
        "{stdout}"
    );
}

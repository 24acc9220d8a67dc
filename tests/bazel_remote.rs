//! The whole Bazel example under real remote execution, on Bazel's own
//! RemoteWorker and on a Buildbarn cluster (scheduler, worker, runner and
//! storage), each on 127.0.0.1: it runs every spawn, the Go compile
//! included, with no local strategy override, and every output is
//! byte-identical to a local (sandboxed) build's. The remote toolchain is the statically linked rko
//! (scripts/build-static), which runs where nothing else is: a worker on
//! another machine needs no glibc of its own.
//!
//! And under a production remote cache, bazel-remote over gRPC: after
//! `bazel clean`, every action of the example is a cache hit and, with
//! `--remote_download_minimal`, none of their outputs reaches the disk;
//! what `bazel run` of a push then finds (Bazel 4.2.3 fetches no runfiles
//! under minimal, the run target's under toplevel, and never the layers
//! behind a layout) is what a push that reads the CAS has to work with.

use crate::util::bazel::{copy_rko_repo, outputs, rko_repo_in, Hello, Workspace, EXAMPLE_ACTIONS};
use crate::util::bazel_remote::BazelRemote;
use crate::util::buildbarn::Buildbarn;
use crate::util::registry::{Auth, Registry};
use crate::util::remote_worker::RemoteWorker;
use crate::util::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every output file of the spawns in a log, path → sha256.
fn output_digests(spawns: &[Value]) -> BTreeMap<String, String> {
    spawns
        .iter()
        .flat_map(|s| s["actualOutputs"].as_array().cloned().unwrap_or_default())
        .map(|o| {
            (
                o["path"].as_str().unwrap().to_string(),
                o["digest"]["hash"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The statically linked rko, built by scripts/build-static (debug profile).
fn static_rko() -> std::path::PathBuf {
    let printed =
        run_ok(std::process::Command::new(repo_root().join("scripts/build-static")).arg("--debug"));
    std::path::PathBuf::from(printed.trim())
}

/// Whether `rko version` runs chrooted into a directory holding nothing
/// but the binary (no dynamic loader, no libc): as on a bare worker.
fn runs_alone(rko: &std::path::Path, dir: &std::path::Path) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(rko, dir.join("rko")).unwrap();
    let out = std::process::Command::new("chroot")
        .arg(dir)
        .args(["/rko", "version"])
        .output()
        .unwrap();
    out.status.success() && out.stdout == format!("{}\n", env!("CARGO_PKG_VERSION")).as_bytes()
}

#[test]
fn the_static_rko_runs_on_a_machine_with_nothing_else() {
    let dir = temp_dir();
    assert!(runs_alone(&static_rko(), &dir.path().join("static")));
    assert!(
        !runs_alone(
            std::path::Path::new(env!("CARGO_BIN_EXE_rko")),
            &dir.path().join("dynamic")
        ),
        "the usual build needs the machine's libc"
    );
}

#[test]
fn every_spawn_of_the_example_runs_remotely_and_gives_the_local_builds_bytes() {
    let dir = temp_dir();
    let d = dir.path();
    let worker = RemoteWorker::start(&d.join("worker"));
    assert_eq!(
        worker.listening(),
        vec![worker.host()],
        "the worker listens on loopback only"
    );
    remote_execution_gives_the_local_builds_bytes(d, &worker.host(), &worker.host(), &|| {
        worker.log()
    });
}

#[test]
fn every_spawn_of_the_example_runs_remotely_on_buildbarn_and_gives_the_local_builds_bytes() {
    let dir = temp_dir();
    let d = dir.path();
    let cluster = Buildbarn::start(&d.join("buildbarn"));
    remote_execution_gives_the_local_builds_bytes(
        d,
        &cluster.executor_address(),
        &cluster.cache_address(),
        &|| cluster.logs(),
    );
}

/// The example built locally (sandboxed), then in another workspace with
/// every spawn executed at `executor` (`127.0.0.1:PORT`) and its CAS and
/// action cache at `cache`: every spawn ran remotely, the Go compile and
/// each rko step among them, and made the local build's bytes. On a
/// failure, the server's `logs` are printed.
fn remote_execution_gives_the_local_builds_bytes(
    d: &Path,
    executor: &str,
    cache: &str,
    logs: &dyn Fn() -> String,
) {
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_remote_execution(d, executor, cache)
    }));
    if let Err(panic) = checked {
        eprintln!("the remote execution server's logs:\n{}", logs());
        std::panic::resume_unwind(panic);
    }
}

fn check_remote_execution(d: &Path, executor: &str, cache: &str) {
    let rko_repo = d.join("rko");
    copy_rko_repo(&rko_repo, Hello::Tiny);

    let local = Workspace::copy(d, "local/ws", "root-local", &rko_repo);
    // Its Go compiles may come from another test's sandboxed build of the
    // same inputs; its rko actions run here.
    local.share_go_builds();
    let local_spawns = local.build_logged(&["//..."], &[], &d.join("local.json"));
    let remote = Workspace::copy(d, "remote/elsewhere/ws", "root-remote", &rko_repo);
    let executor = format!("--remote_executor=grpc://{executor}");
    let cache = format!("--remote_cache=grpc://{cache}");
    // The remote side runs the static rko: the outputs may not depend on
    // which build of rko made them.
    remote.use_rko(&static_rko());
    let remote_spawns =
        remote.build_logged(&["//..."], &[&executor, &cache], &d.join("remote.json"));

    for spawn in &remote_spawns {
        assert!(
            spawn["runner"] == "remote" && spawn["remotable"] == true,
            "{} {} ran {} (remotable: {})",
            spawn["mnemonic"],
            outputs(spawn),
            spawn["runner"],
            spawn["remotable"]
        );
    }
    let mnemonics: std::collections::BTreeSet<&str> = remote_spawns
        .iter()
        .map(|s| s["mnemonic"].as_str().unwrap_or(""))
        .collect();
    for want in EXAMPLE_ACTIONS {
        assert!(mnemonics.contains(want), "no {want} spawn: {mnemonics:?}");
    }
    let (local_digests, remote_digests) = (
        output_digests(&local_spawns),
        output_digests(&remote_spawns),
    );
    assert!(local_digests.values().all(|hash| !hash.is_empty()));
    assert_eq!(local_digests, remote_digests);
    assert_eq!(remote.output("image.digest"), local.output("image.digest"));
}

/// The gRPC requests bazel-remote logged after the first `from` bytes of
/// its log, each without its timestamp (`GRPC AC GET <hash> OK`).
fn requests_since(server: &BazelRemote, from: usize) -> Vec<String> {
    server.log()[from..]
        .lines()
        .map(|line| line.splitn(3, ' ').nth(2).unwrap_or("").to_string())
        .filter(|request| request.starts_with("GRPC "))
        .collect()
}

/// How many of `requests` start with `prefix` and end with `suffix`.
fn count(requests: &[String], prefix: &str, suffix: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.starts_with(prefix) && r.ends_with(suffix))
        .count()
}

/// The hashes of the blobs bazel-remote sent over ByteStream.
fn blobs_read(requests: &[String]) -> BTreeSet<String> {
    requests
        .iter()
        .filter_map(|r| r.strip_prefix("GRPC BYTESTREAM READ COMPLETED blobs/"))
        .map(|blob| blob.split('/').next().unwrap().to_string())
        .collect()
}

/// Of the outputs `spawns` made (path → sha256, files inside a directory
/// output one by one), those on the workspace's disk now.
fn outputs_on_disk(ws: &Workspace, made: &BTreeMap<String, String>) -> BTreeSet<String> {
    made.keys()
        .filter(|path| ws.path.join(path).is_file())
        .cloned()
        .collect()
}

#[test]
fn after_a_clean_bazel_remote_serves_every_action_and_no_output_is_downloaded() {
    let dir = temp_dir();
    let d = dir.path();
    let server = BazelRemote::start(&d.join("bazel-remote"));
    let mut addresses = vec![server.host(), server.grpc_address()];
    addresses.sort();
    assert_eq!(
        server.listening(),
        addresses,
        "bazel-remote listens on loopback only"
    );
    // Its own Go compiles too (no share_go_builds): that marks every rko
    // action no-remote-cache, and here they are what the cache is for.
    let ws = Workspace::copy(d, "ws", "root", &rko_repo_in(d, Hello::Tiny));
    let cache = format!("--remote_cache=grpc://{}", server.grpc_address());

    let fill = ws.build_logged(&["//..."], &[&cache], &d.join("fill.json"));
    assert!(fill.iter().all(|s| s["remoteCacheHit"] != true), "{fill:?}");
    assert_eq!(
        count(&requests_since(&server, 0), "GRPC AC PUT ", " OK"),
        fill.len(),
        "every spawn's result went to bazel-remote"
    );
    let made = output_digests(&fill);

    step_after_a_clean_every_action_is_a_hit_and_nothing_is_downloaded(
        &ws, &server, &cache, &made, d,
    );
    let registry = Registry::start(Auth::None);
    step_bazel_run_under_minimal_finds_an_empty_layout(&ws, &server, &cache, &made, &registry, d);
    step_bazel_run_under_toplevel_downloads_the_layout_and_no_layer(
        &ws, &cache, &made, &registry, d,
    );
}

/// `bazel clean`, then the same build with `--remote_download_minimal`:
/// every spawn is an action cache hit on bazel-remote, and of what they
/// made nothing is on disk or was read from the CAS (Bazel reads only the
/// Tree of each directory output, a layout).
fn step_after_a_clean_every_action_is_a_hit_and_nothing_is_downloaded(
    ws: &Workspace,
    server: &BazelRemote,
    cache: &str,
    made: &BTreeMap<String, String>,
    d: &Path,
) {
    run_ok(ws.bazel().arg("clean"));
    let from = server.log().len();
    let spawns = ws.build_logged(
        &["//..."],
        &[cache, "--remote_download_minimal"],
        &d.join("minimal.json"),
    );
    for spawn in &spawns {
        assert!(
            spawn["runner"] == "remote cache hit" && spawn["remoteCacheHit"] == true,
            "{} ran {}",
            spawn["mnemonic"],
            spawn["runner"]
        );
    }
    let mnemonics: BTreeSet<&str> = spawns
        .iter()
        .map(|s| s["mnemonic"].as_str().unwrap_or(""))
        .collect();
    for want in EXAMPLE_ACTIONS {
        assert!(mnemonics.contains(want), "no {want} hit: {mnemonics:?}");
    }
    let requests = requests_since(server, from);
    assert_eq!(
        count(&requests, "GRPC AC GET ", " OK"),
        spawns.len(),
        "{requests:#?}"
    );
    assert_eq!(
        count(&requests, "GRPC AC GET ", " NOT FOUND"),
        0,
        "{requests:#?}"
    );
    let outputs: BTreeSet<&String> = made.values().collect();
    let read = blobs_read(&requests);
    assert!(
        !read.is_empty() && read.iter().all(|blob| !outputs.contains(blob)),
        "{requests:#?}"
    );
    assert_eq!(outputs_on_disk(ws, made), BTreeSet::new());
}

/// `bazel clean`, then `bazel run //:push` under `--remote_download_minimal`:
/// Bazel 4.2.3 gets the push's action results but downloads none of its
/// runfiles, so the script finds none (the index's layout an empty
/// directory, no layer descriptor).
/// This pins the Bazel behaviour behind the lazy push's set-up: Bazel 4
/// gives `bazel run` no runfiles under minimal, so a lazy push runs under
/// `--remote_download_toplevel`, whose runfiles then hold no layer blob
/// (tests/lazy_push.rs).
fn step_bazel_run_under_minimal_finds_an_empty_layout(
    ws: &Workspace,
    server: &BazelRemote,
    cache: &str,
    made: &BTreeMap<String, String>,
    registry: &Registry,
    d: &Path,
) {
    run_ok(ws.bazel().arg("clean"));
    let from = server.log().len();
    let repository = format!("{}/hello", registry.host());
    let stderr = run_err(
        ws.bazel()
            .args(["run", "//:push", cache, "--remote_download_minimal"])
            .args(["--", "--repository", &repository])
            .env("DOCKER_CONFIG", d.join("docker")),
    );
    assert!(
        stderr.contains("Running command line: bazel-bin/push.sh"),
        "{stderr}"
    );
    // The first runfile the push reads, a layer's descriptor, is not there.
    assert!(
        stderr.contains("reading kodata.json: No such file"),
        "{stderr}"
    );
    let layout = ws.output_path("image");
    assert!(layout.is_dir() && std::fs::read_dir(&layout).unwrap().next().is_none());
    assert_eq!(outputs_on_disk(ws, made), BTreeSet::new());
    let requests = requests_since(server, from);
    let outputs: BTreeSet<&String> = made.values().collect();
    assert!(
        blobs_read(&requests)
            .iter()
            .all(|blob| !outputs.contains(blob)),
        "{requests:#?}"
    );
}

/// `bazel clean`, then `bazel run //:push` under `--remote_download_toplevel`:
/// the run target's runfiles come down and the push works. For this eager
/// push they are the index's sparse layout, its digest file, and the layer
/// blobs and descriptors beside it; a lazy push leaves the blobs out
/// (tests/lazy_push.rs).
fn step_bazel_run_under_toplevel_downloads_the_layout_and_no_layer(
    ws: &Workspace,
    cache: &str,
    made: &BTreeMap<String, String>,
    registry: &Registry,
    d: &Path,
) {
    run_ok(ws.bazel().arg("clean"));
    let repository = format!("{}/hello", registry.host());
    run_ok(
        ws.bazel()
            .args(["run", "//:push", cache, "--remote_download_toplevel"])
            .args(["--", "--repository", &repository, "--tag", "toplevel"])
            .env("DOCKER_CONFIG", d.join("docker")),
    );
    let pushed = json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{repository}:toplevel")),
    ));
    assert_eq!(pushed["manifests"].as_array().unwrap().len(), 2);
    let layer_files = [
        "kodata.",
        "image.linux_amd64.bin.",
        "image.linux_arm64.bin.",
    ];
    let runfiles: BTreeSet<String> = made
        .keys()
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or_default();
            path.ends_with("/bin/image.digest")
                || path.contains("/bin/image/")
                || layer_files.iter().any(|layer| name.starts_with(layer))
        })
        .cloned()
        .collect();
    assert!(runfiles.iter().any(|path| path.ends_with("/oci-layout")));
    assert_eq!(outputs_on_disk(ws, made), runfiles);
    assert!(ws.output_path("kodata.tar.gz").exists());
}

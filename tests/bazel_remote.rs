//! The whole Bazel example under real remote execution: Bazel's own
//! RemoteWorker on 127.0.0.1 runs every spawn, the Go compile included, with
//! no local strategy override, and every output is byte-identical to a local
//! (sandboxed) build's. The remote toolchain is the statically linked rko
//! (scripts/build-static), which runs where nothing else is: a worker on
//! another machine needs no glibc of its own.

use crate::util::bazel::{copy_rko_repo, outputs, Workspace};
use crate::util::remote_worker::RemoteWorker;
use crate::util::*;
use serde_json::Value;
use std::collections::BTreeMap;

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
    let rko_repo = d.join("rko");
    copy_rko_repo(&rko_repo);

    let local = Workspace::copy(d, "local/ws", "root-local", &rko_repo);
    // Its Go compiles may come from another test's sandboxed build of the
    // same inputs; its rko actions run here.
    local.share_go_builds();
    let local_spawns = local.build_logged(&["//..."], &[], &d.join("local.json"));
    let remote = Workspace::copy(d, "remote/elsewhere/ws", "root-remote", &rko_repo);
    let executor = format!("--remote_executor=grpc://{}", worker.host());
    // The remote side runs the static rko: the outputs may not depend on
    // which build of rko made them.
    remote.use_rko(&static_rko());
    let remote_spawns = remote.build_logged(&["//..."], &[&executor], &d.join("remote.json"));

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
    for want in [
        "GoBuild",
        "RkoLayer",
        "RkoAppend",
        "RkoIndex",
        "RkoSbom",
        "RkoResolve",
    ] {
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

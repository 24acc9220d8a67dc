//! The whole Bazel example under real remote execution: Bazel's own
//! RemoteWorker on 127.0.0.1 runs every spawn, the Go compile included, with
//! no local strategy override, and every output is byte-identical to a local
//! (sandboxed) build's.

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

#[test]
fn every_spawn_of_the_example_runs_remotely_and_gives_the_local_builds_bytes() {
    let dir = temp_dir();
    let d = dir.path();
    let worker = RemoteWorker::start(&d.join("worker"));
    assert_eq!(
        worker.listening(),
        vec![format!("127.0.0.1:{}", worker.port)],
        "the worker listens on loopback only"
    );
    let rko_repo = d.join("rko");
    copy_rko_repo(&rko_repo);

    let local = Workspace::copy(d, "local/ws", "root-local", &rko_repo);
    let local_spawns = local.build_logged(&["//..."], &[], &d.join("local.json"));
    let remote = Workspace::copy(d, "remote/elsewhere/ws", "root-remote", &rko_repo);
    let executor = format!("--remote_executor=grpc://127.0.0.1:{}", worker.port);
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

//! A bounded `KOCACHE`: a size cap (`KOCACHE_MAX_SIZE`) enforced at the end
//! of `rko build` by removing the least recently used entries, `rko cache
//! info` and `rko cache prune`, and never removing what a running build
//! holds.
//!
//! ko fills `KOCACHE` and never removes anything from it: its binaries stay
//! at `KOCACHE/bin/<import path>/<platform>/out` (pkg/build/gobuild.go,
//! `build`: the directory is removed only when `KOCACHE` is unset), its
//! layer metadata files beside them only grow (pkg/build/cache.go,
//! `layerCache.put`), and its base images are appended to `KOCACHE/img`
//! (pkg/commands/cache.go, `imageCache.get`). The cache is only ever a
//! shortcut: on a miss ko builds the layer again (`layerCache.get` calls
//! `miss`), so what the cache loses must never change an image.

use crate::util::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A module with five mains, `example.com/c/cmd/{a,b,c,d,e}`; `e` has a
/// `kodata/` directory.
fn module(dir: &Path) -> PathBuf {
    let root = dir.join("mod");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("go.mod"), "module example.com/c\n\ngo 1.19\n").unwrap();
    for name in ["a", "b", "c", "d", "e"] {
        edit(&root, name, 0);
    }
    let kodata = root.join("cmd/e/kodata");
    fs::create_dir_all(&kodata).unwrap();
    fs::write(kodata.join("greeting.txt"), "hello from kodata\n").unwrap();
    root
}

/// Writes `cmd/NAME/main.go` printing its name and `version`: each version
/// is a different binary, hence a new layer.
fn edit(module: &Path, name: &str, version: u32) {
    let dir = module.join("cmd").join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("main.go"),
        format!(
            "package main\n\nimport \"os\"\n\nfunc main() {{\n\
             \tos.Stdout.WriteString(\"{name} version {version}\\n\")\n}}\n"
        ),
    )
    .unwrap();
}

/// `rko build ./cmd/NAME…` with `KOCACHE=state/cache` and the cap
/// `max_size` (`KOCACHE_MAX_SIZE`); returns (stdout, stderr).
fn build(state: &Path, module: &Path, names: &[&str], max_size: &str) -> (String, String) {
    run_ok_with_stderr(&mut build_command(state, module, names, max_size))
}

fn build_command(state: &Path, module: &Path, names: &[&str], max_size: &str) -> Command {
    let mut cmd = porcelain(state);
    cmd.current_dir(module)
        .env("KO_DOCKER_REPO", "registry.example/cache")
        .env("KOCACHE_MAX_SIZE", max_size)
        .args(["build", "--push=false", "--platform=linux/amd64"])
        .args(names.iter().map(|n| format!("./cmd/{n}")));
    cmd
}

/// `rko cache VERB ARGS…` on `state/cache`.
fn cache_command(state: &Path, verb: &str, args: &[&str]) -> Command {
    let mut cmd = porcelain(state);
    cmd.args(["cache", verb]).args(args);
    cmd
}

/// The bytes of every file in the cache's entries (what `du -b` counts),
/// scratch directories left out.
fn cache_bytes(state: &Path) -> u64 {
    let cache = state.join("cache");
    ["bin", "layers", "bases", "list"]
        .iter()
        .flat_map(|kind| walkdir::WalkDir::new(cache.join(kind)))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// The programs whose binaries are in `KOCACHE/bin` (by file name).
fn cached_binaries(state: &Path) -> BTreeSet<String> {
    let Ok(slots) = fs::read_dir(state.join("cache/bin")) else {
        return BTreeSet::new();
    };
    slots
        .flatten()
        .filter(|slot| slot.path().is_dir())
        .flat_map(|slot| fs::read_dir(slot.path()).unwrap().flatten())
        .filter(|file| file.path().is_file())
        .map(|file| file.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && !name.contains(".rko-"))
        .collect()
}

/// The files in `KOCACHE/layers` holding layer blobs.
fn cached_layers(state: &Path) -> usize {
    fs::read_dir(state.join("cache/layers"))
        .map(|files| {
            files
                .flatten()
                .filter(|f| f.file_name().to_string_lossy().ends_with(".blob"))
                .count()
        })
        .unwrap_or(0)
}

/// What `rko cache info` printed: each line's first word and the rest.
fn info_of(state: &Path, max_size: Option<&str>) -> BTreeMap<String, String> {
    let mut cmd = cache_command(state, "info", &[]);
    if let Some(max_size) = max_size {
        cmd.env("KOCACHE_MAX_SIZE", max_size);
    }
    run_ok(&mut cmd)
        .lines()
        .filter_map(|line| line.split_once(char::is_whitespace))
        .map(|(key, rest)| (key.to_string(), rest.trim().to_string()))
        .collect()
}

/// "(N bytes)" in an info line, as a number.
fn bytes_in(line: &str) -> u64 {
    let inner = line.rsplit_once('(').unwrap().1;
    inner.split_whitespace().next().unwrap().parse().unwrap()
}

/// "N entries" at the start of an info line, as a number.
fn entries_in(line: &str) -> u64 {
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// The digest in `rko build`'s printed reference.
fn digest(stdout: &str) -> String {
    stdout.trim().rsplit('@').next().unwrap().to_string()
}

fn layer_counts(stderr: &str, name: &str) -> String {
    let prefix = format!("example.com/c/cmd/{name} (linux/amd64): ");
    let line = stderr
        .lines()
        .find_map(|line| line.split_once(&prefix).map(|(_, rest)| rest.to_string()));
    line.unwrap_or_else(|| panic!("no layer counts for {name} in:\n{stderr}"))
}

#[test]
fn least_recently_used_entries_go_first_and_recent_ones_stay() {
    let dir = temp_dir();
    let module = module(dir.path());
    let state = dir.path().join("state");
    let mut first = BTreeMap::new();
    for name in ["a", "b", "c", "d"] {
        let (stdout, _) = build(&state, &module, &[name], "off");
        first.insert(name, digest(&stdout));
    }
    // a used again: b is now the least recently used, then c.
    build(&state, &module, &["a"], "off");
    let full = cache_bytes(&state);
    assert_eq!(
        cached_binaries(&state),
        ["a", "b", "c", "d"].map(String::from).into()
    );

    // Each program is three entries (its go list answer, binary and layer;
    // about 0.2, 15 and 10 percent of `full`) used in that order. Pruning to
    // 9/10 of this cap (54%) removes a's list answer, all of b's and c's
    // entries (down to 50%), and stops before d's.
    let cap = full * 6 / 10;
    let (_, stderr) = build(&state, &module, &["a"], &cap.to_string());
    let after = cache_bytes(&state);
    assert!(
        after <= cap,
        "KOCACHE holds {after} bytes after the build, over its cap {cap} (was {full})\n{stderr}"
    );
    assert_eq!(
        cached_binaries(&state),
        ["a", "d"].map(String::from).into(),
        "the least recently used programs (b, c) go, the recent ones (a, d) stay\n{stderr}"
    );
    assert_eq!(
        cached_layers(&state),
        3,
        "the layers of b and c went with them (a's and d's binaries, and the empty kodata layer ko gives every image)"
    );

    // What went is built again, to the same image; what stayed is reused.
    let (stdout, stderr) = build(&state, &module, &["a", "b", "c", "d"], "off");
    let again: Vec<String> = stdout.lines().map(digest).collect();
    let want: Vec<String> = first.values().cloned().collect();
    assert_eq!(again, want, "the same digests after eviction");
    for (name, counts) in [
        ("a", "0 layers built, 2 from cache"),
        ("b", "1 layers built, 1 from cache"),
        ("c", "1 layers built, 1 from cache"),
        ("d", "0 layers built, 2 from cache"),
    ] {
        assert_eq!(layer_counts(&stderr, name), counts, "{name}");
    }
}

/// A `go` that, for `go build`, says so (creates `$STARTED`) and waits for
/// `$GATE` before running the real `go build`: an `rko build` stopped
/// inside `go build`, holding its entries.
fn gated_go(dir: &Path) -> PathBuf {
    let script = dir.join("gated-go");
    fs::write(
        &script,
        "#!/bin/sh\n\
         if [ \"$1\" = build ]; then\n\
         \t: > \"$STARTED\"\n\
         \twhile [ ! -e \"$GATE\" ]; do sleep 0.05; done\n\
         fi\n\
         exec \"$REAL_GO\" \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// A child process killed if the test fails before it ends.
struct Running(Option<Child>);

impl Running {
    fn wait(mut self) -> (String, String) {
        let out = self.0.take().unwrap().wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "the gated build failed:\n{stderr}");
        (stdout, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for(path: &Path, running: &mut Running) {
    let start = Instant::now();
    while !path.exists() {
        if let Some(status) = running.0.as_mut().unwrap().try_wait().unwrap() {
            panic!("the gated build ended ({status}) before reaching go build");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the gated build never reached go build"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn prune_all_keeps_what_a_running_build_holds_and_empties_the_rest() {
    let dir = temp_dir();
    let module = module(dir.path());
    let state = dir.path().join("state");
    let (stdout, _) = build(&state, &module, &["e"], "off");
    let e_digest = digest(&stdout);
    build(&state, &module, &["a"], "off");
    assert_eq!(
        cached_layers(&state),
        4,
        "e's binary and kodata layers, a's binary and (empty) kodata layers"
    );

    // A second rko builds e and stops inside go build: it holds e's binary
    // slot (locked from before go build) and e's kodata layer (read before).
    let gate = dir.path().join("gate");
    let started = dir.path().join("started");
    let mut cmd = build_command(&state, &module, &["e"], "off");
    cmd.env("KO_GO_PATH", gated_go(dir.path()))
        .env("REAL_GO", require("go"))
        .env("GATE", &gate)
        .env("STARTED", &started)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut running = Running(Some(cmd.spawn().unwrap()));
    wait_for(&started, &mut running);

    let printed = run_ok(&mut cache_command(&state, "prune", &["--all"]));
    assert!(
        printed.contains("2 in use kept"),
        "prune names what it kept: {printed}"
    );
    assert_eq!(
        cached_binaries(&state),
        ["e"].map(String::from).into(),
        "e's binary, locked by the running build, stays; a's goes"
    );
    assert_eq!(
        cached_layers(&state),
        1,
        "only e's kodata layer, in use, stays"
    );

    fs::write(&gate, "").unwrap();
    let (stdout, stderr) = running.wait();
    assert_eq!(
        digest(&stdout),
        e_digest,
        "the running build was not disturbed"
    );
    assert_eq!(layer_counts(&stderr, "e"), "1 layers built, 1 from cache");

    // Nothing running: --all leaves nothing, and a build gives the same image.
    run_ok(&mut cache_command(&state, "prune", &["--all"]));
    assert_eq!(cache_bytes(&state), 0, "prune --all empties KOCACHE");
    let (stdout, stderr) = build(&state, &module, &["e"], "off");
    assert_eq!(digest(&stdout), e_digest);
    assert_eq!(layer_counts(&stderr, "e"), "2 layers built, 0 from cache");
}

#[test]
fn kocache_stays_under_its_cap_while_edits_pile_up() {
    let dir = temp_dir();
    let module = module(dir.path());
    let unbounded = dir.path().join("unbounded");
    let bounded = dir.path().join("bounded");
    build(&unbounded, &module, &["a"], "off");
    // Room for the binary and about three of its layers.
    let cap = cache_bytes(&unbounded) * 2;
    let mut sizes = Vec::new();
    for version in 1..=6 {
        edit(&module, "a", version);
        build(&unbounded, &module, &["a"], "off");
        let (_, stderr) = build(&bounded, &module, &["a"], &cap.to_string());
        let size = (cache_bytes(&unbounded), cache_bytes(&bounded));
        assert!(
            size.1 <= cap,
            "edit {version}: the capped KOCACHE holds {} bytes, over {cap}\n{stderr}",
            size.1
        );
        sizes.push(size);
    }
    eprintln!("KOCACHE bytes after each edit (without cap, with cap {cap}): {sizes:?}");
    assert!(
        sizes.windows(2).all(|w| w[1].0 > w[0].0) && sizes[5].0 > cap,
        "without a cap every edit adds a layer: {sizes:?}"
    );
    // Six binaries and the one empty kodata layer they share.
    assert_eq!(cached_layers(&unbounded), 7 + 1);
}

#[test]
fn info_reports_path_size_cap_and_entries_by_kind() {
    let dir = temp_dir();
    let module = module(dir.path());
    let state = dir.path().join("state");
    build(&state, &module, &["e", "a"], "off");
    let info = info_of(&state, Some("3MB"));
    let cache = state.join("cache");
    assert_eq!(info["path"], cache.display().to_string());
    assert_eq!(info["cap"], "3.0 MB (3000000 bytes)");
    assert_eq!(bytes_in(&info["size"]), cache_bytes(&state));
    assert_eq!(entries_in(&info["bin"]), 2, "{info:?}");
    assert_eq!(entries_in(&info["layers"]), 4, "{info:?}");
    assert_eq!(entries_in(&info["bases"]), 0, "{info:?}");
    // Each `go list` answer is kept under the target as given (`./cmd/e`)
    // and under its import path, as `rko resolve` names it.
    assert_eq!(entries_in(&info["list"]), 4, "{info:?}");
    let by_kind: u64 = ["bin", "layers", "bases", "list"]
        .iter()
        .map(|kind| bytes_in(&info[*kind]))
        .sum();
    assert_eq!(by_kind, cache_bytes(&state));
    // Without KOCACHE_MAX_SIZE: the default cap; with "off", none.
    assert_eq!(info_of(&state, None)["cap"], "5.0 GB (5000000000 bytes)");
    assert_eq!(
        info_of(&state, Some("off"))["cap"],
        "none (KOCACHE_MAX_SIZE=off)"
    );
}

#[test]
fn prune_to_a_size_removes_the_least_recently_used_first() {
    let dir = temp_dir();
    let module = module(dir.path());
    let state = dir.path().join("state");
    for name in ["a", "b", "c"] {
        build(&state, &module, &[name], "off");
    }
    let one_program = cache_bytes(&state) / 3;
    let max = (one_program * 3 / 2).to_string();
    let printed = run_ok(&mut cache_command(&state, "prune", &["--max-size", &max]));
    assert!(printed.starts_with("removed "), "{printed}");
    assert_eq!(cached_binaries(&state), ["c"].map(String::from).into());
    assert!(cache_bytes(&state) <= one_program * 3 / 2);
}

#[test]
fn files_rko_did_not_write_are_never_pruned() {
    // ko's own entries, if KOCACHE is shared with ko: pkg/build/gobuild.go
    // `build` writes bin/<import path>/<platform>/out, pkg/build/cache.go
    // `layerCache.put` buildid-to-diffid beside it, pkg/commands/cache.go
    // `newCache` an OCI layout under img/.
    let dir = temp_dir();
    let state = dir.path().join("state");
    let ko_bin = state.join("cache/bin/example.com/app/linux/amd64");
    fs::create_dir_all(&ko_bin).unwrap();
    fs::write(ko_bin.join("out"), "ko's binary").unwrap();
    fs::write(ko_bin.join("buildid-to-diffid"), "{}").unwrap();
    fs::create_dir_all(state.join("cache/img")).unwrap();
    fs::write(state.join("cache/img/index.json"), "{}").unwrap();
    let module = module(dir.path());
    build(&state, &module, &["a"], "off");
    run_ok(&mut cache_command(&state, "prune", &["--all"]));
    assert!(ko_bin.join("out").exists() && ko_bin.join("buildid-to-diffid").exists());
    assert!(state.join("cache/img/index.json").exists());
    assert!(
        cached_binaries(&state).is_empty(),
        "{:?}",
        cached_binaries(&state)
    );
    assert_eq!(cached_layers(&state), 0);
}

#[test]
fn a_cap_that_is_not_a_size_is_refused() {
    let dir = temp_dir();
    let module = module(dir.path());
    let state = dir.path().join("state");
    let stderr = run_err(&mut build_command(&state, &module, &["a"], "lots"));
    assert!(
        stderr.contains("KOCACHE_MAX_SIZE=\"lots\"") && stderr.contains("5GB"),
        "{stderr}"
    );
    let stderr = run_err(&mut cache_command(&state, "prune", &["--max-size", "12XB"]));
    assert!(stderr.contains("--max-size \"12XB\""), "{stderr}");
}

//! `rko build` and `KOCACHE` on an unlucky machine: killed runs, truncated
//! binaries, corrupted layers, concurrent builds, a full cache disk; and
//! `resolve-yaml` given a map value that is not a reference (issue 11).

use crate::util::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// A copy of examples/hello in a fresh directory.
fn hello(dir: &Path) -> PathBuf {
    let module = dir.join("hello");
    copy_tree(&repo_root().join("examples/hello"), &module);
    module
}

/// `rko build` of `module` into the OCI layout `out`, no registry, no SBOM
/// (so nothing reads the binary but the layer), with `cache` as KOCACHE.
fn build_to_layout(module: &Path, state: &Path, cache: &Path, out: &Path) -> Command {
    let mut cmd = porcelain(state);
    cmd.current_dir(module)
        .env("KOCACHE", cache)
        .args(["build", "--push=false", "--sbom=none", "--oci-layout-path"])
        .arg(out)
        .arg(".");
    cmd
}

/// The digest of the one image `rko build` wrote into `out`.
fn built_digest(module: &Path, state: &Path, cache: &Path, out: &Path) -> String {
    run_ok(&mut build_to_layout(module, state, cache, out));
    layout_digest(out)
}

/// Files under `dir` whose name satisfies `wanted`, sorted.
fn files_named(dir: &Path, wanted: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| wanted(&e.file_name().to_string_lossy()))
        .map(|e| e.path().to_path_buf())
        .collect();
    found.sort();
    found
}

/// Waits for `child` up to `deadline`; a child still running then is
/// killed and the test fails as hung (a deadlock detector, not a timing
/// assertion: the deadline is minutes above any normal run).
fn wait_or_hang(mut child: Child, deadline: Duration, what: &str) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("{what} hung: still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_truncated_binary_in_kocache_is_rebuilt_never_shipped() {
    let dir = temp_dir();
    let module = hello(dir.path());
    let cache = dir.path().join("cache");
    let reference = built_digest(&module, dir.path(), &cache, &dir.path().join("first"));
    // What a copy killed half way leaves: the start of the binary, whose
    // Go build ID still matches, so `go build` alone would not relink it.
    let binaries = files_named(&cache.join("bin"), |name| name == "hello");
    assert_eq!(binaries.len(), 1, "{binaries:?}");
    let full = fs::metadata(&binaries[0]).unwrap().len();
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&binaries[0])
        .unwrap();
    file.set_len(full / 2).unwrap();
    drop(file);

    let out = dir.path().join("second");
    let (_, stderr) = run_ok_with_stderr(&mut build_to_layout(&module, dir.path(), &cache, &out));
    assert_eq!(
        layout_digest(&out),
        reference,
        "the image changed: {stderr}"
    );
    assert_eq!(fs::metadata(&binaries[0]).unwrap().len(), full);
    assert!(
        stderr.contains("warning") && stderr.contains("hello"),
        "{stderr}"
    );
}

#[test]
fn a_corrupted_layer_in_kocache_is_rebuilt_never_shipped() {
    let dir = temp_dir();
    let module = hello(dir.path());
    let cache = dir.path().join("cache");
    let reference = built_digest(&module, dir.path(), &cache, &dir.path().join("first"));
    let blobs = files_named(&cache.join("layers"), |name| name.ends_with(".blob"));
    assert!(!blobs.is_empty());
    for blob in &blobs {
        // Same size, one byte changed: a size check alone would pass it.
        let mut bytes = fs::read(blob).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        fs::write(blob, bytes).unwrap();
    }

    let out = dir.path().join("second");
    let (_, stderr) = run_ok_with_stderr(&mut build_to_layout(&module, dir.path(), &cache, &out));
    assert_eq!(
        layout_digest(&out),
        reference,
        "the image changed: {stderr}"
    );
    assert!(stderr.contains("warning"), "{stderr}");
}

#[test]
fn stale_build_directories_in_kocache_are_swept_fresh_ones_kept() {
    let dir = temp_dir();
    let module = hello(dir.path());
    let cache = dir.path().join("cache");
    let tmp = cache.join("tmp");
    fs::create_dir_all(tmp.join("build-killed/x")).unwrap();
    fs::write(tmp.join("build-killed/x/blob"), b"left by a killed run").unwrap();
    fs::create_dir_all(tmp.join("build-running")).unwrap();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for path in ["build-killed/x/blob", "build-killed/x", "build-killed"] {
        fs::File::options()
            .read(true)
            .open(tmp.join(path))
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
    }

    run_ok(&mut build_to_layout(
        &module,
        dir.path(),
        &cache,
        &dir.path().join("out"),
    ));
    assert!(
        !tmp.join("build-killed").exists(),
        "a stale directory survived"
    );
    assert!(
        tmp.join("build-running").exists(),
        "a live run's directory was removed"
    );
}

#[test]
fn three_concurrent_builds_sharing_kocache_agree() {
    let dir = temp_dir();
    let module = hello(dir.path());
    let cache = dir.path().join("cache");
    let children: Vec<(PathBuf, Child)> = (0..3)
        .map(|i| {
            let out = dir.path().join(format!("out{i}"));
            let child = build_to_layout(&module, dir.path(), &cache, &out)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    let mut digests = Vec::new();
    for (out, child) in children {
        let output = wait_or_hang(child, Duration::from_secs(600), "a concurrent build");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        digests.push(layout_digest(&out));
    }
    let alone = built_digest(
        &module,
        dir.path(),
        &dir.path().join("cache2"),
        &dir.path().join("alone"),
    );
    assert_eq!(digests, vec![alone.clone(), alone.clone(), alone]);
}

#[test]
fn builds_killed_at_random_moments_leave_a_cache_the_next_build_can_trust() {
    let dir = temp_dir();
    let module = hello(dir.path());
    let reference = built_digest(
        &module,
        dir.path(),
        &dir.path().join("clean"),
        &dir.path().join("ref"),
    );
    let cache = dir.path().join("cache");
    let mut delays = Prng::new(1);
    let mut mid_write = 0;
    for attempt in 0..20 {
        let out = dir.path().join(format!("killed{attempt}"));
        let before = unfinished_writes(&cache, &out);
        let mut child = build_to_layout(&module, dir.path(), &cache, &out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delays.below(1500)));
        let _ = child.kill();
        let _ = child.wait();
        if !unfinished_writes(&cache, &out).is_subset(&before) {
            mid_write += 1;
        }
        if out.exists() {
            // Killed after the rename: then the layout must be whole.
            assert_eq!(layout_digest(&out), reference, "attempt {attempt}");
        }
    }
    let out = dir.path().join("after");
    let after = built_digest(&module, dir.path(), &cache, &out);
    assert_eq!(
        after,
        reference,
        "after the kills: {}\nclean: {}",
        diff_ids(&out),
        diff_ids(&dir.path().join("ref"))
    );
    assert!(
        mid_write > 0,
        "no kill landed while the build was writing into KOCACHE or its output"
    );
}

/// What a build writing into `cache` and `out` keeps only until it is done:
/// its scratch directory in the cache (`tmp/build-…`, where Go and the
/// layers write) and the temporaries it renames into place
/// (`.NAME.rko-tmp-…`, in the cache and beside `out`). One that a SIGKILL
/// left behind shows that the kill landed while the build was writing.
fn unfinished_writes(cache: &Path, out: &Path) -> BTreeSet<PathBuf> {
    let scratch = fs::read_dir(cache.join("tmp"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("build-"))
        .map(|e| e.path());
    let temporaries = walkdir::WalkDir::new(cache)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".rko-tmp-"))
        .map(|e| e.path().to_path_buf());
    scratch
        .chain(temporaries)
        .chain(temporaries_beside(out))
        .collect()
}

/// The diffIDs of the one image in `layout`, to say which layer differs.
fn diff_ids(layout: &Path) -> String {
    let blob = |digest: &str| {
        read_json(
            &layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
    };
    let manifest = blob(&layout_digest(layout));
    let config = blob(manifest["config"]["digest"].as_str().unwrap_or_default());
    config["rootfs"]["diff_ids"].to_string()
}

/// A tmpfs of `size` mounted at `dir` for the life of the guard.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(dir).unwrap();
        run_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir),
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_kocache_disk_fails_with_one_clear_error_and_no_output() {
    require("mount");
    let dir = temp_dir();
    let module = hello(dir.path());
    let cache = dir.path().join("cache");
    let _tmpfs = Tmpfs::mount(&cache, "8m");
    let out = dir.path().join("out");
    let child = build_to_layout(&module, dir.path(), &cache, &out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_or_hang(
        child,
        Duration::from_secs(300),
        "rko build on a full KOCACHE",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "succeeded on a full disk: {stderr}"
    );
    // Go's linker says it in lower case, rko as the OS does.
    assert!(
        stderr.to_lowercase().contains("no space left on device"),
        "{stderr}"
    );
    assert!(!out.exists(), "something was written at the output path");
}

#[test]
fn an_images_map_value_that_is_not_a_reference_is_refused() {
    let dir = temp_dir();
    let yaml = dir.path().join("deploy.yaml");
    fs::write(&yaml, "spec:\n  image: ko://example.com/app\n").unwrap();
    let map = dir.path().join("images.json");
    fs::write(&map, r#"{"example.com/app": "x\nprivileged: true"}"#).unwrap();
    let out = dir.path().join("out.yaml");
    let err = run_err(
        rko()
            .arg("resolve-yaml")
            .arg("-f")
            .arg(&yaml)
            .arg("--images")
            .arg(&map)
            .arg("--out")
            .arg(&out),
    );
    assert!(
        err.contains("example.com/app") && err.contains("invalid reference"),
        "{err}"
    );
    assert!(!out.exists());
}

//! rko on an unlucky machine, against the real distribution registry: a
//! full disk under `pull`, a symlinked `config.json` at `login`, and
//! SIGKILL at random moments during `pull` and `push`.

use super::{pull, small_layout, PATIENCE};
use crate::util::hostile::{digest, run_err_or_hang};
use crate::util::registry::{
    Auth, FaultProxy, Registry, PASSWORD as REAL_PASSWORD, USER as REAL_USER,
};
use crate::util::Prng;
use crate::util::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs of `size` mounted on `dir` (we run as root), unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(dir).unwrap();
        run_ok(
            Command::new(require("mount"))
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir),
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// How many blobs (config and layers, not the manifest) a pushed image has.
fn image_blobs(layout: &Path) -> usize {
    fs::read_dir(layout.join("blobs/sha256")).unwrap().count() - 1
}

#[test]
fn pull_onto_a_full_disk_reports_the_disk_error_and_does_not_retry() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port);
    let dir = temp_dir();
    let layout = small_layout(dir.path(), 3 << 20);
    run_ok(
        rko()
            .arg("push")
            .arg(&layout)
            .arg(format!("{}/big:v1", registry.host())),
    );
    let disk = dir.path().join("disk");
    let _tmpfs = Tmpfs::mount(&disk, "1m");
    let out = disk.join("out");

    let err = run_err_or_hang(
        &mut pull(
            &dir.path().join("docker"),
            &format!("{}/big:v1", proxy.host()),
            &out,
        ),
        PATIENCE,
    );
    assert!(
        err.contains("No space left on device") && err.contains(&disk.display().to_string()),
        "{err}"
    );
    assert!(!err.contains("attempts"), "{err}");
    // The blob whose write failed, named by the path in the error: a full
    // disk stays full, so it is fetched once and not again.
    let failed = err
        .split("blobs/sha256/")
        .nth(1)
        .and_then(|rest| rest.get(..64))
        .unwrap_or_else(|| panic!("the error names no blob: {err}"));
    assert_eq!(
        proxy.count("GET", &format!("/blobs/sha256:{failed}")),
        1,
        "sha256:{failed} was fetched again after its write failed: {:?}",
        proxy.seen.lock().unwrap()
    );
    assert!(
        proxy.count("GET", "/blobs/") <= image_blobs(&layout),
        "a blob was fetched again: {:?}",
        proxy.seen.lock().unwrap()
    );
    assert!(!out.exists());
}

#[test]
fn login_writes_through_a_symlinked_config_json_and_keeps_it_private() {
    use std::os::unix::fs::PermissionsExt;
    let registry = Registry::start(Auth::BasicTls);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let real = dir.path().join("dotfiles/docker-config.json");
    fs::create_dir_all(&config).unwrap();
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::write(&real, r#"{"psFormat": "table"}"#).unwrap();
    std::os::unix::fs::symlink("../dotfiles/docker-config.json", config.join("config.json"))
        .unwrap();

    run_ok(
        rko_in(&config)
            .args([
                "login",
                &registry.host(),
                "-u",
                REAL_USER,
                "-p",
                REAL_PASSWORD,
            ])
            .arg("--ca-cert")
            .arg(registry.ca.as_ref().unwrap()),
    );
    let link = fs::symlink_metadata(config.join("config.json")).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "config.json is still a symlink"
    );
    let saved = read_json(&real);
    assert!(
        saved["auths"][registry.host()]["auth"].is_string(),
        "{saved}"
    );
    assert_eq!(saved["psFormat"], "table");
    let mode = fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

/// A layout that is whole: every blob's content matches its name, and its
/// index points at `digest`.
fn assert_whole_layout(layout: &Path, want: &str) {
    assert_eq!(layout_digest(layout), want, "{}", layout.display());
    for entry in fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            digest(&fs::read(&path).unwrap()),
            format!("sha256:{name}"),
            "{}",
            path.display()
        );
    }
}

/// Starts `cmd`, kills it (SIGKILL) after `delay`, and waits for it.
fn kill_after(cmd: &mut Command, delay: Duration) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait().unwrap();
}

/// SIGKILL at 20 moments (seeded, so a failure can be replayed): the output
/// is whole or absent, and a rerun gives the reference digest.
#[test]
fn pull_killed_at_random_moments_leaves_no_half_layout_and_a_rerun_gives_the_digest() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let layout = small_layout(dir.path(), 4 << 20);
    let reference = format!("{}/killed:v1", registry.host());
    run_ok(rko().arg("push").arg(&layout).arg(&reference));
    let want = layout_digest(&layout);
    let mut prng = Prng::new(20);
    let mut mid_write = 0;
    for attempt in 0..20 {
        let out = dir.path().join(format!("out-{attempt}"));
        kill_after(
            &mut pull(&config, &reference, &out),
            Duration::from_millis(prng.below(400)),
        );
        if !temporaries_beside(&out).is_empty() {
            mid_write += 1;
        }
        if out.exists() {
            assert_whole_layout(&out, &want);
        }
        run_ok(&mut pull(&config, &reference, &out));
        assert_whole_layout(&out, &want);
    }
    assert!(
        mid_write > 0,
        "no kill landed while the layout was being written"
    );
}

/// Whether the registry holds part of a push into `repository` and not its
/// tag: an upload session or a blob, no `v1` yet. Left so by a SIGKILL, it
/// shows that the kill landed while the image was being written.
fn half_pushed(registry: &Registry, repository: &str) -> bool {
    let stored = registry
        .dir
        .path()
        .join("data/docker/registry/v2/repositories")
        .join(repository);
    stored.exists() && !stored.join("_manifests/tags/v1").exists()
}

/// SIGKILL at 20 moments (seeded) spread over a whole push, each into a
/// fresh repository so that uploads are under way: a rerun still pushes the
/// reference digest, and some kills cut a push in half.
#[test]
fn push_killed_at_random_moments_then_rerun_gives_the_digest() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let layout = small_layout(dir.path(), 4 << 20);
    let want = layout_digest(&layout);
    let push = |repository: &str| {
        let mut cmd = rko_in(&config);
        cmd.arg("push")
            .arg(&layout)
            .arg(format!("{}/{repository}:v1", registry.host()));
        cmd
    };
    let started = Instant::now();
    run_ok(&mut push("reference"));
    // Delays spread over a whole push, and a little past its end (as in
    // trust_image.rs): a push to a registry on this machine is over in a
    // fraction of a second, and fixed delays would mostly kill a finished run.
    let span = started.elapsed().as_millis() as u64 * 6 / 5;
    let mut prng = Prng::new(21);
    let mut mid_write = 0;
    for attempt in 0..20 {
        let repository = format!("killed-{attempt}");
        kill_after(
            &mut push(&repository),
            Duration::from_millis(prng.below(span)),
        );
        if half_pushed(&registry, &repository) {
            mid_write += 1;
        }
        let pushed = run_ok(&mut push(&repository));
        assert_eq!(pushed_digest(&pushed), want, "{repository}");
    }
    let info = json(&run_ok(
        skopeo("inspect").arg(format!("docker://{}/killed-19:v1", registry.host())),
    ));
    assert_eq!(info["Digest"], want.as_str());
    assert!(
        mid_write > 0,
        "no kill landed while the image was being pushed"
    );
}

//! Layouts, layers and archives on an unlucky machine: full disks, killed
//! runs, corrupted or symlinked blobs (issue 11).
//!
//! Every run that may hang is watched by a deadlock detector: a run still
//! going after [`HANG`] is killed and the test fails with "hung". That is
//! not a speed threshold; a healthy run ends in seconds.

mod readback;

use crate::util::*;
use readback::{
    check_docker_archive, check_index_of, check_oci_archive, check_small_image, sha256_of,
};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a run may take before it is taken for a deadlock.
const HANG: Duration = Duration::from_secs(60);

/// Runs `cmd` to the end, or kills it and fails the test after [`HANG`].
fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut bytes).unwrap();
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{cmd:?} hung: still running after {HANG:?}, killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// The temporaries rko leaves beside `target` (`.NAME.rko-tmp-*`).
fn temporaries_of(target: &Path) -> Vec<String> {
    let prefix = format!(
        ".{}.rko-tmp-",
        target.file_name().unwrap().to_string_lossy()
    );
    let mut names: Vec<String> = fs::read_dir(target.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    names.sort();
    names
}

/// Runs `cmd` (bounded) and checks that it failed with one line naming
/// `blame` and containing `needle`, leaving nothing at `outputs` and no
/// temporaries beside them.
fn fails_cleanly(cmd: &mut Command, blame: &Path, needle: &str, outputs: &[&Path]) -> String {
    let out = run_bounded(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded but should have failed\nstderr: {stderr}"
    );
    let lines: Vec<_> = stderr.trim().lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("rko: "),
        "expected one line of error from {cmd:?} ({}), got: {stderr:?}",
        out.status
    );
    let blamed = blame.display().to_string();
    assert!(
        stderr.contains(&blamed),
        "{blamed:?} not named in: {stderr}"
    );
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    for output in outputs {
        assert!(
            !output.exists(),
            "{} exists after a failed run",
            output.display()
        );
        let left = temporaries_of(output);
        assert!(
            left.is_empty(),
            "temporaries left beside {}: {left:?}",
            output.display()
        );
    }
    stderr
}

/// `len` bytes gzip cannot shrink, the same every time.
fn incompressible_file(path: &Path, len: usize) {
    fs::write(path, noise(0x9e37, len)).unwrap();
}

/// `rko assemble-layer` of `input` to `out`/layer.tar.gz and `out`/layer.json.
fn assemble(input: &Path, out: &Path, compression: &str) -> Command {
    let mut cmd = rko();
    cmd.arg("assemble-layer")
        .arg(format!("--file={}=/data", input.display()))
        .arg(format!("--compression={compression}"))
        .arg("--out")
        .arg(out.join("layer.tar.gz"))
        .arg("--descriptor")
        .arg(out.join("layer.json"));
    cmd
}

/// `cmd` run by `sh` under `ulimit -f blocks`: writes past that many
/// blocks fail (EFBIG, or SIGXFSZ unless it is ignored).
fn under_file_size_limit(cmd: &Command, blocks: u32) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("ulimit -f {blocks}; exec \"$0\" \"$@\""))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    sh
}

/// A tmpfs of `size` mounted at a fresh directory; unmounted when dropped,
/// even when the test fails.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = temp_dir();
        let path = dir.path().join("full");
        fs::create_dir(&path).unwrap();
        run_ok(
            Command::new(require("mount"))
                .args(["-t", "tmpfs", "-o"])
                .arg(format!("size={size}"))
                .arg("tmpfs")
                .arg(&path),
        );
        Tmpfs { _dir: dir, path }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.path).status();
        if !matches!(unmounted, Ok(s) if s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

// Case 1: a write error in the compression pipeline ends the run.

#[test]
fn a_write_error_under_ulimit_f_ends_assemble_layer_with_one_error_naming_the_output() {
    let dir = temp_dir();
    let input = dir.path().join("random");
    // Many more chunks than the pipeline holds in flight.
    incompressible_file(&input, 12 << 20);
    for compression in ["gzip", "zstd", "none"] {
        let out = dir.path().join(compression);
        fs::create_dir(&out).unwrap();
        let blob = out.join("layer.tar.gz");
        fails_cleanly(
            &mut under_file_size_limit(&assemble(&input, &out, compression), 64),
            &blob,
            "File too large",
            &[&blob, &out.join("layer.json")],
        );
    }
}

#[test]
fn a_full_disk_ends_assemble_layer_with_one_error_naming_the_output() {
    let dir = temp_dir();
    let input = dir.path().join("random");
    // Many more chunks than the pipeline holds in flight.
    incompressible_file(&input, 12 << 20);
    let disk = Tmpfs::mount("1m");
    for compression in ["gzip", "zstd", "none"] {
        let blob = disk.path.join("layer.tar.gz");
        fails_cleanly(
            &mut assemble(&input, &disk.path, compression),
            &blob,
            "No space left on device",
            &[&blob, &disk.path.join("layer.json")],
        );
    }
}

// Case 7: a full disk under append and export.

/// A layer of `len` incompressible bytes, made in `dir`.
fn big_layer(dir: &Path, len: usize) -> (PathBuf, PathBuf) {
    let input = dir.join("random");
    incompressible_file(&input, len);
    layer(dir, "big", &[&format!("--file={}=/data", input.display())])
}

/// An image on builtin:static holding `layer`, written at `out`.
fn image_with(layer: &(PathBuf, PathBuf), out: &Path) -> Command {
    let mut cmd = rko();
    cmd.args(["append", "--base=builtin:static"])
        .arg(format!("--layer={}", layer_arg(layer)))
        .arg("--out")
        .arg(out);
    cmd
}

/// `rko export LAYOUT --format FORMAT --out OUT`.
fn export(layout: &Path, format: &str, out: &Path) -> Command {
    let mut cmd = rko();
    cmd.arg("export")
        .arg(layout)
        .arg(format!("--format={format}"))
        .arg("--out")
        .arg(out);
    cmd
}

#[test]
fn a_full_disk_ends_append_with_one_error_naming_the_output() {
    let dir = temp_dir();
    let big = big_layer(dir.path(), 4 << 20);
    let disk = Tmpfs::mount("1m");
    let image = disk.path.join("image");
    fails_cleanly(
        &mut image_with(&big, &image),
        &image,
        "No space left on device",
        &[&image],
    );
}

#[test]
fn a_full_disk_ends_export_with_one_error_naming_the_output() {
    let dir = temp_dir();
    let big = big_layer(dir.path(), 4 << 20);
    let image = dir.path().join("image");
    run_ok(&mut image_with(&big, &image));
    let disk = Tmpfs::mount("1m");
    for format in ["docker", "oci"] {
        let tarball = disk.path.join(format!("{format}.tar"));
        fails_cleanly(
            &mut export(&image, format, &tarball),
            &tarball,
            "No space left on device",
            &[&tarball],
        );
    }
}

// Case 2: every blob copied, linked or read from a layout is checked
// against its digest, not just its size.

/// A small image layout at `dir`/`name`; returns it and its layer's digest.
fn small_image(dir: &Path, name: &str) -> (PathBuf, String) {
    let file = dir.join(format!("{name}.txt"));
    fs::write(&file, format!("{name}\n").repeat(100)).unwrap();
    let small = layer(
        dir,
        name,
        &[&format!("--file={}=/{name}.txt", file.display())],
    );
    let image = dir.join(name);
    run_ok(&mut image_with(&small, &image));
    let digest = read_json(&small.1)["digest"].as_str().unwrap().to_string();
    (image, digest)
}

/// `layout`'s blob file for `digest`.
fn blob_file(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Flips one byte of the blob, keeping its size; a new file, so that a
/// hard-linked original stays intact.
fn corrupt(blob: &Path) {
    let mut bytes = fs::read(blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::remove_file(blob).unwrap();
    fs::write(blob, bytes).unwrap();
}

#[test]
fn append_refuses_a_base_blob_whose_content_does_not_match_its_digest() {
    let dir = temp_dir();
    let (base, digest) = small_image(dir.path(), "base");
    corrupt(&blob_file(&base, &digest));
    let out = dir.path().join("image");
    let mut cmd = rko();
    cmd.arg("append")
        .arg(format!("--base={}", base.display()))
        .arg("--out")
        .arg(&out);
    fails_cleanly(&mut cmd, &blob_file(&base, &digest), "digest", &[&out]);
}

#[test]
fn index_refuses_a_blob_whose_content_does_not_match_its_digest() {
    let dir = temp_dir();
    let (image, digest) = small_image(dir.path(), "image");
    corrupt(&blob_file(&image, &digest));
    let out = dir.path().join("index");
    let mut cmd = rko();
    cmd.arg("index")
        .arg("--image")
        .arg(&image)
        .arg("--out")
        .arg(&out);
    fails_cleanly(&mut cmd, &blob_file(&image, &digest), "digest", &[&out]);
}

#[test]
fn export_refuses_a_blob_whose_content_does_not_match_its_digest() {
    let dir = temp_dir();
    let (image, digest) = small_image(dir.path(), "image");
    corrupt(&blob_file(&image, &digest));
    for format in ["docker", "oci"] {
        let out = dir.path().join(format!("{format}.tar"));
        fails_cleanly(
            &mut export(&image, format, &out),
            &blob_file(&image, &digest),
            "digest",
            &[&out],
        );
    }
}

/// What rko wrote for [`small_image`] before blobs were verified; re-pinned
/// when builtin:static gained its time zone database (issue 12, item 8),
/// which changed the base and nothing else (the same layer on `scratch`
/// gives the same digests before and after that change), and again for
/// ko's outputs (issue 20): an image on builtin:static names it in
/// `base.name` (so the index that lists it changes too), and the
/// docker-save tarball is go-containerregistry's (`sha256:<hex>` config,
/// `<hex>.tar.gz` layers, no directories).
const PINNED: [&str; 4] = [
    "image sha256:1615e4fa23e02e79c4145e8dec935cc38b48802af7d17459150754bcb26dfc2b",
    "index sha256:bada16e71f6273857a27428fc2592367c9044bd4b46007caa6bf7da8e5d3450f",
    "docker sha256:10d6b8adc25d923d225f4b775c0114eb30e8f316e5b453d1dfccbd5c26e43d9b",
    "oci sha256:d50deafa7b8f39bec54caf5f65ab585d4c8bdbbf0d7cfcef2abe99033d33972c",
];

#[test]
fn good_inputs_give_the_same_bytes_as_before_blobs_were_verified() {
    // Pinned from rko before verification was added: checking blobs must
    // not change a byte of what append, index and export write.
    let dir = temp_dir();
    let (image, _) = small_image(dir.path(), "image");
    let index_dir = dir.path().join("index");
    let digest = index(&[&image], &index_dir, &[]);
    let mut got = vec![
        format!("image {}", layout_digest(&image)),
        format!("index {digest}"),
    ];
    for format in ["docker", "oci"] {
        let out = dir.path().join(format!("{format}.tar"));
        run_ok(&mut export(&image, format, &out));
        got.push(format!("{format} {}", sha256_of(&out)));
    }

    // What the bytes hold, as readers that are not rko's read them.
    let copy = dir.path().join("copy");
    let config = check_small_image(&image, &copy);
    check_index_of(&index_dir, &image, &config);
    check_docker_archive(&dir.path().join("docker.tar"), &copy);
    check_oci_archive(&dir.path().join("oci.tar"), &image);

    assert_eq!(got, PINNED, "output bytes changed");
}

// Case 3: a layout missing a blob it names is not exported.

#[test]
fn export_oci_of_a_layout_missing_its_manifest_blob_fails_and_writes_nothing() {
    let dir = temp_dir();
    let (image, _) = small_image(dir.path(), "image");
    let manifest = layout_digest(&image);
    fs::remove_file(blob_file(&image, &manifest)).unwrap();
    let out = dir.path().join("oci.tar");
    fails_cleanly(
        &mut export(&image, "oci", &out),
        &image,
        manifest.trim_start_matches("sha256:"),
        &[&out],
    );
}

#[test]
fn export_oci_of_a_layout_missing_a_layer_blob_fails_and_writes_nothing() {
    let dir = temp_dir();
    let (image, digest) = small_image(dir.path(), "image");
    fs::remove_file(blob_file(&image, &digest)).unwrap();
    let out = dir.path().join("oci.tar");
    fails_cleanly(
        &mut export(&image, "oci", &out),
        &image,
        digest.trim_start_matches("sha256:"),
        &[&out],
    );
}

// Case 4: a layout's blobs are regular files; a symlink out of the layout
// is refused. The one symlink followed is the one Bazel's sandbox makes: to
// another copy of the same blob (`…/blobs/sha256/<the same hex>`), whose
// content is checked like any other.

/// Replaces `link` with a symlink to `target`.
fn symlink_over(link: &Path, target: &Path) {
    let _ = fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[test]
fn export_oci_refuses_a_blob_that_is_a_symlink_to_a_file_outside_the_layout() {
    let dir = temp_dir();
    let (image, _) = small_image(dir.path(), "image");
    // Named by the file's own digest: only the symlink rule can catch it.
    let passwd = Path::new("/etc/passwd");
    let stolen = blob_file(&image, &sha256_of(passwd));
    symlink_over(&stolen, passwd);
    let out = dir.path().join("oci.tar");
    fails_cleanly(
        &mut export(&image, "oci", &out),
        &stolen,
        "symbolic link",
        &[&out],
    );
}

#[test]
fn append_index_and_export_refuse_a_layer_blob_that_is_a_symlink_out_of_the_layout() {
    let dir = temp_dir();
    let d = dir.path();
    let (image, digest) = small_image(d, "image");
    let blob = blob_file(&image, &digest);
    // The right content, but outside any layout.
    let outside = d.join("outside");
    fs::copy(&blob, &outside).unwrap();
    symlink_over(&blob, &outside);

    let out = d.join("appended");
    let mut append = rko();
    append
        .arg("append")
        .arg(format!("--base={}", image.display()))
        .arg("--out")
        .arg(&out);
    fails_cleanly(&mut append, &blob, "symbolic link", &[&out]);
    let out = d.join("index");
    let mut index = rko();
    index
        .arg("index")
        .arg("--image")
        .arg(&image)
        .arg("--out")
        .arg(&out);
    fails_cleanly(&mut index, &blob, "symbolic link", &[&out]);
    for format in ["docker", "oci"] {
        let out = d.join(format!("{format}.tar"));
        fails_cleanly(
            &mut export(&image, format, &out),
            &blob,
            "symbolic link",
            &[&out],
        );
    }
}

/// A copy of `layout` at `to` as Bazel's sandbox stages a directory input:
/// real directories, every file a symlink to the original.
fn sandbox_copy(layout: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(layout) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(layout).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else {
            std::os::unix::fs::symlink(entry.path(), &target).unwrap();
        }
    }
}

/// Paths under `dir` that are not regular files or directories.
fn non_regular_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_file() && !e.file_type().is_dir())
        .map(|e| e.path().to_path_buf())
        .collect()
}

#[test]
fn a_layout_staged_as_symlinks_to_its_blobs_reads_as_the_original_as_bazel_stages_inputs() {
    let dir = temp_dir();
    let d = dir.path();
    let (image, _) = small_image(d, "image");
    let staged = d.join("sandbox/image");
    sandbox_copy(&image, &staged);
    for (name, source) in [("direct", &image), ("staged", &staged)] {
        let index_dir = d.join(format!("{name}-index"));
        index(&[source], &index_dir, &[]);
        assert_eq!(non_regular_files(&index_dir), Vec::<PathBuf>::new());
        let appended = d.join(format!("{name}-appended"));
        let mut append = rko();
        append
            .arg("append")
            .arg(format!("--base={}", source.display()))
            .arg("--out")
            .arg(&appended);
        run_ok(&mut append);
        assert_eq!(non_regular_files(&appended), Vec::<PathBuf>::new());
        run_ok(&mut export(source, "oci", &d.join(format!("{name}.tar"))));
    }
    for name in ["index", "appended"] {
        assert!(
            snapshot(&d.join(format!("direct-{name}")))
                == snapshot(&d.join(format!("staged-{name}"))),
            "{name} differs when its input is staged as symlinks"
        );
    }
    assert_eq!(
        sha256_of(&d.join("direct.tar")),
        sha256_of(&d.join("staged.tar"))
    );
}

// Case 5: temporaries left by killed runs are swept by a later run.

/// Sets the modification time of `path` (and everything under it) to `when`
/// (as `touch -d` reads it).
fn set_mtime(path: &Path, when: &str) {
    run_ok(
        Command::new("find")
            .arg(path)
            .args(["-exec", "touch", "-h", "-d", when, "{}", "+"]),
    );
}

#[test]
fn stale_temporaries_beside_an_output_are_swept_and_fresh_ones_kept() {
    let dir = temp_dir();
    let d = dir.path();
    let input = d.join("input");
    fs::write(&input, b"data").unwrap();
    let out = d.join("out");
    fs::create_dir(&out).unwrap();
    let old_file = out.join(".layer.tar.gz.rko-tmp-killed");
    let old_dir = out.join(".image.rko-tmp-killed");
    let fresh_file = out.join(".layer.tar.gz.rko-tmp-running");
    let other = out.join(".unrelated.rko-tmp-killed");
    fs::write(&old_file, vec![0u8; 1 << 20]).unwrap();
    fs::create_dir_all(old_dir.join("blobs/sha256")).unwrap();
    fs::write(old_dir.join("blobs/sha256/partial"), b"x").unwrap();
    fs::write(&other, b"not ours").unwrap();
    for path in [&old_file, &old_dir, &other] {
        set_mtime(path, "2 hours ago");
    }
    fs::write(&fresh_file, b"a live run is writing this").unwrap();

    run_ok(&mut assemble(&input, &out, "gzip"));
    assert!(!old_file.exists(), "a stale temporary of the blob was kept");
    assert!(fresh_file.exists(), "a live run's temporary was removed");
    assert!(other.exists(), "another output's temporary was removed");

    let small = layer(d, "small", &[&format!("--file={}=/x", input.display())]);
    run_ok(&mut image_with(&small, &out.join("image")));
    assert!(!old_dir.exists(), "a stale temporary layout was kept");
    assert!(fresh_file.exists() && other.exists());
}

// Case 6: kill -9 at random moments.

#[test]
fn assemble_layer_killed_at_random_moments_leaves_nothing_or_a_complete_output() {
    let dir = temp_dir();
    let d = dir.path();
    let input = d.join("input");
    incompressible_file(&input, 2 << 20);
    let half = fs::read(&input).unwrap();
    fs::write(&input, [&half[..], &vec![7u8; 2 << 20][..]].concat()).unwrap();
    let reference = d.join("reference");
    fs::create_dir(&reference).unwrap();
    let started = Instant::now();
    let digest = run_ok(&mut assemble(&input, &reference, "gzip"));
    // Delays spread over the whole run, and a little past its end.
    let span = started.elapsed().as_millis() as u64 * 6 / 5;
    let blob = fs::read(reference.join("layer.tar.gz")).unwrap();
    let descriptor = fs::read(reference.join("layer.json")).unwrap();

    let out = d.join("out");
    fs::create_dir(&out).unwrap();
    let mut rng = Prng::new(0x5eed_0011);
    let mut interrupted = 0;
    for attempt in 0..20 {
        let _ = fs::remove_file(out.join("layer.tar.gz"));
        let _ = fs::remove_file(out.join("layer.json"));
        let mut child = assemble(&input, &out, "gzip")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(span)));
        child.kill().unwrap();
        if !child.wait().unwrap().success() {
            interrupted += 1;
        }
        for (name, complete) in [("layer.tar.gz", &blob), ("layer.json", &descriptor)] {
            if let Ok(bytes) = fs::read(out.join(name)) {
                assert!(
                    &bytes == complete,
                    "attempt {attempt}: {name} is incomplete"
                );
            }
        }
        if out.join("layer.json").exists() {
            assert!(
                out.join("layer.tar.gz").exists(),
                "attempt {attempt}: a descriptor without its blob"
            );
        }
    }
    assert!(interrupted > 0, "no run was killed before it finished");
    assert_eq!(run_ok(&mut assemble(&input, &out, "gzip")), digest);
}

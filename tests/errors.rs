//! Bad input gets one clear line naming what is wrong, a non-zero exit, and
//! nothing left at (or beside) the output path.

use crate::util::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// Runs `cmd`, expects failure with one line of stderr containing `needle`,
/// and checks that `out_dir` holds nothing but `allowed` afterwards.
fn fails_cleanly(cmd: &mut Command, needle: &str, out_dir: &Path, allowed: &[&str]) {
    let stderr = run_err(cmd);
    let lines: Vec<_> = stderr.trim().lines().collect();
    assert_eq!(lines.len(), 1, "expected one line of error, got: {stderr}");
    assert!(lines[0].starts_with("rko: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    let mut left: Vec<String> = fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !allowed.contains(&name.as_str()))
        .collect();
    left.sort();
    assert!(left.is_empty(), "left behind after failing: {left:?}");
}

fn assemble(out: &Path, entries: &[String]) -> Command {
    let mut cmd = rko();
    cmd.arg("assemble-layer")
        .args(entries)
        .arg("--out")
        .arg(out.join("layer.tar.gz"))
        .arg("--descriptor")
        .arg(out.join("layer.json"));
    cmd
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    out: PathBuf,
}

fn fixture() -> Fixture {
    let dir = temp_dir();
    let root = dir.path().to_path_buf();
    let out = root.join("out");
    fs::create_dir(&out).unwrap();
    fs::write(root.join("app"), b"#!/bin/true\n").unwrap();
    Fixture {
        _dir: dir,
        root,
        out,
    }
}

#[test]
fn a_missing_source_file_is_named() {
    let f = fixture();
    let missing = f.root.join("no-such-binary");
    fails_cleanly(
        &mut assemble(
            &f.out,
            &[format!("--file={}=/ko-app/app", missing.display())],
        ),
        "no-such-binary",
        &f.out,
        &[],
    );
}

#[test]
fn destinations_that_step_outside_the_image_are_rejected() {
    let f = fixture();
    let app = f.root.join("app");
    for dest in ["/ko-app/../../etc/passwd", "a/./b", "a//b"] {
        fails_cleanly(
            &mut assemble(&f.out, &[format!("--file={}={dest}", app.display())]),
            dest,
            &f.out,
            &[],
        );
    }
}

#[test]
fn two_entries_at_one_destination_are_rejected() {
    let f = fixture();
    let app = f.root.join("app");
    fails_cleanly(
        &mut assemble(
            &f.out,
            &[
                format!("--file={}=/ko-app/app", app.display()),
                "--symlink=ko-app/app=/bin/true".to_string(),
            ],
        ),
        "duplicate destination \"ko-app/app\"",
        &f.out,
        &[],
    );
}

#[test]
fn a_symlink_escaping_the_allowed_root_is_rejected() {
    let f = fixture();
    let tree = f.root.join("kodata");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("ok.txt"), b"fine").unwrap();
    std::os::unix::fs::symlink(f.root.join("app"), tree.join("escape")).unwrap();
    fails_cleanly(
        &mut assemble(&f.out, &[format!("--tree={}=/var/run/ko", tree.display())]),
        "outside the allowed root",
        &f.out,
        &[],
    );
    // The same link is fine once the allowed root encloses its target.
    let mut cmd = assemble(&f.out, &[format!("--tree={}=/var/run/ko", tree.display())]);
    run_ok(cmd.arg("--allow-root").arg(&f.root));
}

#[test]
fn an_output_in_a_missing_directory_is_named() {
    let f = fixture();
    let missing = f.root.join("missing-dir");
    let mut cmd = rko();
    cmd.arg("assemble-layer")
        .arg(format!("--file={}=/app", f.root.join("app").display()))
        .arg("--out")
        .arg(missing.join("layer.tar.gz"))
        .arg("--descriptor")
        .arg(f.out.join("layer.json"));
    fails_cleanly(&mut cmd, "missing-dir does not exist", &f.out, &[]);
    assert!(!missing.exists());
}

/// A valid layer in `f.out`, for the append cases.
fn good_layer(f: &Fixture) -> (PathBuf, PathBuf) {
    layer(
        &f.out,
        "good",
        &[&format!(
            "--file={}=/ko-app/app",
            f.root.join("app").display()
        )],
    )
}

fn append(f: &Fixture, args: &[String]) -> Command {
    let mut cmd = rko();
    cmd.arg("append")
        .args(args)
        .arg("--out")
        .arg(f.out.join("image"));
    cmd
}

const GOOD_LAYER_FILES: [&str; 2] = ["good.tar.gz", "good.json"];

#[test]
fn an_invalid_platform_is_explained() {
    let f = fixture();
    fails_cleanly(
        &mut append(&f, &["--base=scratch".into(), "--platform=linux".into()]),
        "invalid platform \"linux\"",
        &f.out,
        &[],
    );
}

#[test]
fn a_base_layout_without_the_asked_platform_lists_what_it_has() {
    let f = fixture();
    let l = good_layer(&f);
    let base = f.root.join("base");
    run_ok(
        rko()
            .args(["append", "--base=scratch", "--platform=linux/amd64"])
            .arg(format!("--layer={}", layer_arg(&l)))
            .arg("--out")
            .arg(&base),
    );
    fails_cleanly(
        &mut append(
            &f,
            &[
                format!("--base={}", base.display()),
                "--platform=linux/s390x".into(),
            ],
        ),
        "has no image for platform linux/s390x (it has: linux/amd64)",
        &f.out,
        &GOOD_LAYER_FILES,
    );
}

#[test]
fn a_descriptor_that_does_not_match_its_blob_is_rejected() {
    let f = fixture();
    let (blob, _) = good_layer(&f);
    let other = layer(&f.out, "other", &["--dir=/other"]);
    let mismatched = format!("{}={}", blob.display(), other.1.display());
    fails_cleanly(
        &mut append(
            &f,
            &["--base=scratch".into(), format!("--layer={mismatched}")],
        ),
        "but its descriptor says",
        &f.out,
        &["good.tar.gz", "good.json", "other.tar.gz", "other.json"],
    );
}

#[test]
fn a_malformed_descriptor_is_named() {
    let f = fixture();
    let (blob, _) = good_layer(&f);
    let broken = f.out.join("broken.json");
    fs::write(&broken, b"{\"mediaType\": ").unwrap();
    fails_cleanly(
        &mut append(
            &f,
            &[
                "--base=scratch".into(),
                format!("--layer={}={}", blob.display(), broken.display()),
            ],
        ),
        "broken.json: invalid layer descriptor",
        &f.out,
        &["good.tar.gz", "good.json", "broken.json"],
    );
}

#[test]
fn an_unknown_base_is_explained() {
    let f = fixture();
    fails_cleanly(
        &mut append(
            &f,
            &[format!("--base={}", f.root.join("nowhere").display())],
        ),
        "nowhere: is not an OCI image layout",
        &f.out,
        &[],
    );
}

/// Starts `cmd` and stops it (SIGSTOP) once it is certainly mid-work: a
/// temporary of one of `outputs` lies beside it, not yet renamed into
/// place. The command is stopped and looked at over and over until
/// then, so that what is seen is what it is doing when it gets the next
/// signal: no race with the command finishing, however fast the machine.
fn stop_midway(cmd: &mut Command, outputs: &[PathBuf]) -> Child {
    let mut child = cmd.spawn().unwrap();
    loop {
        signal(&child, "STOP");
        wait_stopped(&child);
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the command ended ({status}) before it began writing {outputs:?}");
        }
        if outputs.iter().any(|output| !temporaries(output).is_empty()) {
            break;
        }
        signal(&child, "CONT");
        // Pacing only: the next look comes after the command has run a little.
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

fn signal(child: &Child, name: &str) {
    run_ok(
        Command::new("kill")
            .arg(format!("-{name}"))
            .arg(child.id().to_string()),
    );
}

/// Waits until every thread of `child` has stopped (or it has exited):
/// `kill -STOP` returns before the stop takes effect.
fn wait_stopped(child: &Child) {
    let tasks = PathBuf::from(format!("/proc/{}/task", child.id()));
    let all_stopped = || {
        let Ok(entries) = fs::read_dir(&tasks) else {
            return true; // exited and reaped
        };
        entries.into_iter().all(|task| {
            let stat = fs::read_to_string(task.unwrap().path().join("stat")).unwrap_or_default();
            // `pid (comm) STATE …`; comm may hold spaces and parentheses.
            let state = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest.trim_start());
            state.is_empty() || state.starts_with(['T', 't', 'Z', 'X'])
        })
    };
    while !all_stopped() {
        std::thread::yield_now();
    }
}

/// rko's temporaries for `output`, beside it (`crate::atomic`'s
/// `.NAME.rko-tmp-*`).
fn temporaries(output: &Path) -> Vec<PathBuf> {
    let prefix = format!(
        ".{}.rko-tmp-",
        output.file_name().unwrap().to_string_lossy()
    );
    fs::read_dir(output.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        })
        .collect()
}

/// Kills (SIGKILL, which rko cannot catch) `cmd` in the middle of writing
/// `outputs`, and checks none of them is there afterwards.
fn kill_midway(mut cmd: Command, outputs: &[PathBuf]) {
    let mut child = stop_midway(&mut cmd, outputs);
    child.kill().unwrap();
    child.wait().unwrap();
    for output in outputs {
        assert!(
            !output.exists(),
            "{} exists after an interrupted run",
            output.display()
        );
    }
}

#[test]
fn a_run_stopped_by_sigterm_or_sigint_removes_its_temporary_files_too() {
    for signal_name in ["TERM", "INT"] {
        let f = fixture();
        let big = f.root.join("big");
        huge_file(&big);
        let (blob, descriptor) = (f.out.join("layer.tar.gz"), f.out.join("layer.json"));
        let mut cmd = assemble(
            &f.out,
            &[format!("--file={}=/big", big.display()), "--jobs=1".into()],
        );
        let child = stop_midway(&mut cmd, &[blob.clone(), descriptor]);
        let written = temporaries(&blob);
        // Delivered once the command runs again.
        signal(&child, signal_name);
        signal(&child, "CONT");
        let status = child.wait_with_output().unwrap().status;
        assert!(
            !status.success(),
            "SIG{signal_name}: the run was not stopped"
        );
        let left: Vec<_> = fs::read_dir(&f.out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.is_empty(),
            "SIG{signal_name} left behind: {left:?} (it was writing {written:?})"
        );
    }
}

/// A 4 GiB sparse file: costs no disk, takes seconds to read and compress.
fn huge_file(path: &Path) {
    fs::File::create(path).unwrap().set_len(4 << 30).unwrap();
}

#[test]
fn an_interrupted_assemble_layer_leaves_no_output() {
    let f = fixture();
    let big = f.root.join("big");
    huge_file(&big);
    let cmd = assemble(
        &f.out,
        &[format!("--file={}=/big", big.display()), "--jobs=1".into()],
    );
    kill_midway(cmd, &[f.out.join("layer.tar.gz"), f.out.join("layer.json")]);
}

#[test]
fn an_interrupted_append_leaves_no_output() {
    let f = fixture();
    let big = f.root.join("big.tar.gz");
    huge_file(&big);
    let descriptor = f.root.join("big.json");
    let zeros = format!("sha256:{}", "0".repeat(64));
    fs::write(
        &descriptor,
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{zeros}","size":{},"diffID":"{zeros}"}}"#,
            4u64 << 30
        ),
    )
    .unwrap();
    let mut cmd = rko();
    cmd.args(["append", "--base=builtin:static"])
        .arg(format!(
            "--layer={}={}",
            big.display(),
            descriptor.display()
        ))
        .arg("--out")
        .arg(f.out.join("image"))
        .arg("--digest-file")
        .arg(f.out.join("image.digest"));
    kill_midway(cmd, &[f.out.join("image"), f.out.join("image.digest")]);
}

//! `assemble-layer` on a varied tree: the bytes rko writes are pinned (they
//! were taken from rko before the tree walk streamed and the workers read
//! the files), whatever `--jobs`, the compression or the Windows layout;
//! and another tar reader says what they hold, entry by entry.

use crate::readers::{check_entries, read_tar, sha256_hex, Kind, TarListing, Want};
use crate::util::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bytes that compress somewhat and differ from file to file.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if i % 4 == 0 {
                (state % 251) as u8
            } else {
                b'a' + (i % 23) as u8
            }
        })
        .collect()
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Large files spanning chunks and files at the chunk and block sizes,
/// thousands of small and empty files, an empty directory, deep nesting,
/// names whose order depends on `/` sorting first, Unicode and long names,
/// symlinks to a file and to a directory (followed), and a hard link
/// (written as a second copy).
fn varied_tree(root: &Path) {
    write(&root.join("big.bin"), &content(1, 1_500_077));
    write(&root.join("chunk.bin"), &content(2, 1 << 20));
    for (i, len) in [511usize, 512, 513, 0].into_iter().enumerate() {
        write(
            &root.join(format!("block-{len}")),
            &content(3 + i as u64, len),
        );
    }
    for i in 0..3000u64 {
        let len = (i * 37 % 700) as usize;
        write(
            &root.join(format!("small/f{i:04}.txt")),
            &content(100 + i, len),
        );
    }
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    write(&root.join("deep/a/b/c/d/e/file"), b"deep");
    write(&root.join("a/b"), b"a/b");
    write(&root.join("a-b"), b"a-b");
    write(&root.join("a.txt"), b"a.txt");
    write(&root.join("ünïcødé/日本語.txt"), "こんにちは".as_bytes());
    write(&root.join("emoji-🚀.txt"), b"rocket");
    let long = root.join("d".repeat(120)).join("f".repeat(150));
    write(&long, b"long name");
    symlink("big.bin", root.join("link-to-big")).unwrap();
    symlink("deep/a", root.join("link-to-deep")).unwrap();
    fs::hard_link(root.join("big.bin"), root.join("hard-big")).unwrap();
}

/// A second tree placed at the image root, between the entries of the first.
fn second_tree(root: &Path) {
    write(&root.join("aa.txt"), b"first at the root");
    write(&root.join("data2/x"), &content(9, 70_000));
    write(&root.join("zz/y"), b"last");
}

/// The mtime `assemble` gives every entry.
const MTIME: u64 = 1_700_000_000;

/// `rko assemble-layer` of both trees and some single entries; the digest.
fn assemble(dir: &Path, extra: &[&str], jobs: &str) -> String {
    let stdout = run_ok(
        rko()
            .arg("assemble-layer")
            .arg(format!("--tree={}=/data", dir.join("tree").display()))
            .arg(format!("--tree={}=/", dir.join("tree2").display()))
            .arg(format!(
                "--file={}=/data/small/zz-extra",
                extra_file(dir).display()
            ))
            .args(["--symlink", "/data/a/link=../a.txt"])
            .args(["--dir", "/data/empty-dir", "--dir", "/opt/x"])
            .args(["--mtime", &MTIME.to_string(), "--jobs", jobs])
            .args(extra)
            .arg("--out")
            .arg(blob_of(dir, extra, jobs))
            .arg("--descriptor")
            .arg(blob_of(dir, extra, jobs).with_extension("json")),
    );
    stdout.trim().to_string()
}

/// Where `assemble` writes the blob for `extra` and `jobs`.
fn blob_of(dir: &Path, extra: &[&str], jobs: &str) -> PathBuf {
    dir.join(format!("layer-{jobs}-{}", extra.join("_")))
}

/// The single file `assemble` adds, written on first use.
fn extra_file(dir: &Path) -> PathBuf {
    let path = dir.join("extra");
    write(&path, b"an extra file in the tree's directory");
    path
}

/// What `assemble` puts in, as the layer should hold it: every file and
/// directory of the trees (symlinks followed, a hard link a second
/// copy), the single entries, the parents of `/opt/x`; in path order,
/// component by component, so each directory comes right before its
/// content; files and directories mode 0555 (`--mode` and `--dir-mode`'s
/// default), symlinks 0777, root's, dated `MTIME`. A name over 100 bytes
/// that USTAR's name and prefix fields cannot split between them (here:
/// those whose last part is the long directory or the long file) is in a
/// PAX `path` record, a directory's with its trailing `/`.
fn wanted(dir: &Path) -> Vec<Want> {
    let mut want: BTreeMap<Vec<String>, Want> = BTreeMap::new();
    let mut put = |name: &str, kind: Kind, mode: u32| {
        let parts = name.split('/').map(str::to_string).collect();
        let mut entry = Want {
            name: name.to_string(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: MTIME,
            pax: BTreeMap::new(),
        };
        let written = match entry.kind {
            Kind::Dir => format!("{name}/"),
            _ => name.to_string(),
        };
        if written.len() > 100 {
            entry = entry.with_pax("path", &written);
        }
        want.insert(parts, entry);
    };
    for (tree, dest) in [("tree", "data/"), ("tree2", "")] {
        let root = dir.join(tree);
        for item in walkdir::WalkDir::new(&root).follow_links(true) {
            let item = item.unwrap();
            let rel = item.path().strip_prefix(&root).unwrap().to_str().unwrap();
            let name = format!("{dest}{rel}");
            let name = name.trim_end_matches('/');
            if name.is_empty() {
                continue;
            }
            if item.file_type().is_dir() {
                put(name, Kind::Dir, 0o555);
            } else {
                put(name, Kind::File(fs::read(item.path()).unwrap()), 0o555);
            }
        }
    }
    let extra = fs::read(extra_file(dir)).unwrap();
    put("data/small/zz-extra", Kind::File(extra), 0o555);
    put("data/a/link", Kind::Symlink("../a.txt".into()), 0o777);
    for name in ["data/empty-dir", "opt", "opt/x"] {
        put(name, Kind::Dir, 0o555);
    }
    want.into_values().collect()
}

/// `wanted`, laid out for Windows as ko does: `Hives` and `Files` first,
/// the rest under `Files/`, every file with its security descriptor
/// (PAX `MSWINDOWS.rawsd`, owner and group BUILTIN\Users), and the
/// names Go's archive/tar puts in PAX `path` records (its choice, so
/// taken from what was read: the name read is checked all the same).
fn wanted_on_windows(linux: Vec<Want>, read: &TarListing) -> Vec<Want> {
    let rawsd = "AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA==";
    let dir = |name: &str| Want::dir(name, 0o555).dated(MTIME);
    let mut want = vec![dir("Hives"), dir("Files")];
    for mut entry in linux {
        entry.name = format!("Files/{}", entry.name);
        entry.pax.clear();
        if matches!(entry.kind, Kind::File(_)) {
            entry = entry.with_pax("MSWINDOWS.rawsd", rawsd);
        }
        want.push(entry);
    }
    for (entry, found) in want.iter_mut().zip(&read.entries) {
        if let Some(path) = found.pax.get("path") {
            assert_eq!(path.trim_end_matches('/'), entry.name, "PAX path record");
            entry.pax.insert("path".into(), path.clone());
        }
    }
    want
}

/// The decompressed content of a zstd blob, by the zstd program.
fn zstd_decompressed(blob: &Path) -> Vec<u8> {
    let out = Command::new(require("zstd"))
        .arg("-dc")
        .arg(blob)
        .output()
        .unwrap();
    assert!(out.status.success(), "zstd -dc {}", blob.display());
    out.stdout
}

#[test]
fn a_varied_tree_gives_the_bytes_rko_always_wrote_for_any_jobs() {
    let dir = temp_dir();
    varied_tree(&dir.path().join("tree"));
    second_tree(&dir.path().join("tree2"));
    let (zstd, none, windows): (&[&str], &[&str], &[&str]) = (
        &["--compression", "zstd"],
        &["--compression", "none"],
        &["--windows"],
    );
    let digests: Vec<(&[&str], &str, String)> = [
        (&[][..], "1"),
        (&[], "2"),
        (&[], "3"),
        (&[], "8"),
        (zstd, "2"),
        (none, "2"),
        (windows, "2"),
    ]
    .into_iter()
    .map(|(extra, jobs)| (extra, jobs, assemble(dir.path(), extra, jobs)))
    .collect();

    // What the bytes hold, as Python's tarfile (and the zstd program) read
    // them: the same tar whatever the compression.
    let read = read_tar(&blob_of(dir.path(), &[], "1"));
    assert!(read.gzip, "the default compression is gzip");
    check_entries(&read.entries, &wanted(dir.path()));
    let plain = read_tar(&blob_of(dir.path(), none, "2"));
    assert_eq!(plain.tar_sha256, read.tar_sha256, "{none:?}");
    let unzstd = zstd_decompressed(&blob_of(dir.path(), zstd, "2"));
    assert_eq!(sha256_hex(&unzstd), read.tar_sha256, "{zstd:?}");
    let on_windows = read_tar(&blob_of(dir.path(), windows, "2"));
    let want = wanted_on_windows(wanted(dir.path()), &on_windows);
    check_entries(&on_windows.entries, &want);

    // The bytes, pinned.
    let gzip = "sha256:7266f33e72c07406bba06e844f64d31124005bed67e86b619f350ca0ced34400";
    let pinned = [
        (
            zstd,
            "sha256:5fc3118aa5db01ad432311f7ed39ff3d36364e4b7c99cab809c30a164b2b0350",
        ),
        (
            none,
            "sha256:bfebf143f35377b483478e8219bf7ea22e30272a4622380dd87a2fe2a79fa18c",
        ),
        // Re-pinned when Windows layers took Go's PAX headers, as ko's
        // (`DIR/PaxHeaders.0/FILE`, mode and time 0; issue 20).
        (
            windows,
            "sha256:7cd9890af7f9a9ec4d1cc6799944fdddf034766e928a3f903ea6d400e8e873c4",
        ),
    ];
    for (extra, jobs, digest) in digests {
        let want = pinned
            .iter()
            .find(|(e, _)| *e == extra)
            .map_or(gzip, |p| p.1);
        assert_eq!(digest, want, "{extra:?} --jobs {jobs}");
    }
}

//! `assemble-layer` on a varied tree: the bytes rko writes are pinned (they
//! were taken from rko before the tree walk streamed and the workers read
//! the files), whatever `--jobs`, the compression or the Windows layout.

use crate::util::*;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

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

/// `rko assemble-layer` of both trees and some single entries; the digest.
fn assemble(dir: &Path, extra: &[&str], jobs: &str) -> String {
    let out = dir.join(format!("layer-{jobs}-{}", extra.join("_")));
    let extra_file = dir.join("extra");
    write(&extra_file, b"an extra file in the tree's directory");
    let stdout = run_ok(
        rko()
            .arg("assemble-layer")
            .arg(format!("--tree={}=/data", dir.join("tree").display()))
            .arg(format!("--tree={}=/", dir.join("tree2").display()))
            .arg(format!(
                "--file={}=/data/small/zz-extra",
                extra_file.display()
            ))
            .args(["--symlink", "/data/a/link=../a.txt"])
            .args(["--dir", "/data/empty-dir", "--dir", "/opt/x"])
            .args(["--mtime", "1700000000", "--jobs", jobs])
            .args(extra)
            .arg("--out")
            .arg(&out)
            .arg("--descriptor")
            .arg(out.with_extension("json")),
    );
    stdout.trim().to_string()
}

#[test]
fn a_varied_tree_gives_the_bytes_rko_always_wrote_for_any_jobs() {
    let dir = temp_dir();
    varied_tree(&dir.path().join("tree"));
    second_tree(&dir.path().join("tree2"));
    let gzip = "sha256:7266f33e72c07406bba06e844f64d31124005bed67e86b619f350ca0ced34400";
    for jobs in ["1", "2", "3", "8"] {
        assert_eq!(assemble(dir.path(), &[], jobs), gzip, "gzip, --jobs {jobs}");
    }
    let cases: [(&[&str], &str); 3] = [
        (
            &["--compression", "zstd"],
            "sha256:5fc3118aa5db01ad432311f7ed39ff3d36364e4b7c99cab809c30a164b2b0350",
        ),
        (
            &["--compression", "none"],
            "sha256:bfebf143f35377b483478e8219bf7ea22e30272a4622380dd87a2fe2a79fa18c",
        ),
        // Re-pinned when Windows layers took Go's PAX headers, as ko's
        // (`DIR/PaxHeaders.0/FILE`, mode and time 0; issue 20).
        (
            &["--windows"],
            "sha256:7cd9890af7f9a9ec4d1cc6799944fdddf034766e928a3f903ea6d400e8e873c4",
        ),
    ];
    for (extra, want) in cases {
        assert_eq!(assemble(dir.path(), extra, "2"), want, "{extra:?}");
    }
}

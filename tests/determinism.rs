//! Identical inputs give identical bytes, whatever the input paths, the
//! umask, the order files were created in, or `--jobs`.

use crate::util::*;
use std::fs;
use std::path::Path;

/// A tree whose files are created in the given order with the given
/// permission bits (what a different umask would have left).
fn make_tree(root: &Path, order: &[&str], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    for name in order {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, format!("content of {name} ").repeat(2000)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::symlink("b.txt", root.join("link-to-b")).unwrap();
}

fn assemble(
    tree: &Path,
    binary: &Path,
    out: &Path,
    jobs: &str,
    umask: &str,
) -> (String, Vec<u8>, Vec<u8>) {
    let blob = out.join("layer.tar.gz");
    let desc = out.join("layer.json");
    fs::create_dir_all(out).unwrap();
    let stdout = run_ok(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$@\""))
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_rko"))
            .arg("assemble-layer")
            .arg(format!("--tree={}=/var/run/ko", tree.display()))
            .arg(format!("--file={}=/ko-app/hello", binary.display()))
            .args([
                "--symlink",
                "/usr/bin/hello=/ko-app/hello",
                "--mtime",
                "1700000000",
            ])
            .args(["--jobs", jobs])
            .arg("--out")
            .arg(&blob)
            .arg("--descriptor")
            .arg(&desc),
    );
    (stdout, fs::read(&blob).unwrap(), fs::read(&desc).unwrap())
}

#[test]
fn layers_are_identical_across_paths_umasks_creation_order_and_jobs() {
    let dir = temp_dir();
    let binary = hello_binary("amd64");
    let names = ["b.txt", "a/z.txt", "a/b/c.txt", "c.bin", "a/a.txt"];
    let mut reversed = names;
    reversed.reverse();
    make_tree(&dir.path().join("one/kodata"), &names, 0o644);
    make_tree(
        &dir.path().join("elsewhere/deeper/kodata"),
        &reversed,
        0o600,
    );
    let bin_copy = dir.path().join("elsewhere/hello");
    fs::copy(&binary, &bin_copy).unwrap();

    let first = assemble(
        &dir.path().join("one/kodata"),
        &binary,
        &dir.path().join("out1"),
        "1",
        "022",
    );
    let second = assemble(
        &dir.path().join("elsewhere/deeper/kodata"),
        &bin_copy,
        &dir.path().join("out2"),
        "2",
        "077",
    );
    let third = assemble(
        &dir.path().join("one/kodata"),
        &binary,
        &dir.path().join("out3"),
        "8",
        "002",
    );
    assert_eq!(first.0, second.0, "printed digests differ");
    assert!(
        first.1 == second.1 && first.1 == third.1,
        "layer bytes differ"
    );
    assert_eq!(first.2, second.2, "descriptors differ");
    assert_eq!(first.2, third.2, "descriptors differ");
}

#[test]
fn images_and_indexes_are_identical_when_built_twice_in_different_places() {
    let a = temp_dir();
    let b = temp_dir();
    // Each build has its own copy of the sources, at another depth, and its
    // own rko cache: `go build` and the kodata layer both run in each. They
    // share the suite's Go build cache, whose keys leave the directory out
    // only under -trimpath: a build that let the path in (no -trimpath)
    // compiles again from the other path, and the images differ.
    let build = |dir: &Path, sources: &str| {
        let module = dir.join(sources);
        fs::create_dir_all(module.parent().unwrap()).unwrap();
        copy_tree(&repo_root().join("examples/hello"), &module);
        let layout = dir.join("layout");
        let mut cmd = rko_build(&module, &dir.join("state"));
        run_ok(
            cmd.args(["--push=false", "--platform=linux/amd64,linux/arm64"])
                .arg("--oci-layout-path")
                .arg(&layout)
                .arg("."),
        );
        layout
    };
    let first = build(a.path(), "hello");
    let second = build(b.path(), "somewhere/much/deeper/hello");
    let index = read_json(
        &first
            .join("blobs/sha256")
            .join(layout_digest(&first).trim_start_matches("sha256:")),
    );
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(2),
        "an index of two images: {index}"
    );
    let (one, two) = (snapshot(&first), snapshot(&second));
    let differing: Vec<&str> = one
        .iter()
        .zip(&two)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.0.as_str())
        .collect();
    assert_eq!(
        names(&one),
        names(&two),
        "the layouts hold different files (digests differ)"
    );
    assert!(differing.is_empty(), "files differ: {differing:?}");
}

/// The paths of a [`snapshot`].
fn names(files: &[(String, Vec<u8>)]) -> Vec<&str> {
    files.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn exports_are_identical_when_made_twice() {
    let dir = temp_dir();
    let image = hello_image(dir.path(), "amd64");
    for format in ["docker", "oci"] {
        let one = dir.path().join(format!("{format}-1.tar"));
        let two = dir.path().join(format!("{format}-2.tar"));
        for out in [&one, &two] {
            run_ok(
                rko()
                    .arg("export")
                    .arg(&image)
                    .args(["--format", format, "--tag", "example/hello:1"])
                    .arg("--out")
                    .arg(out),
            );
        }
        assert!(
            fs::read(&one).unwrap() == fs::read(&two).unwrap(),
            "{format} exports differ"
        );
    }
}

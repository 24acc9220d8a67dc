//! Embeds the `builtin:static` base: for every line of
//! third_party/builtin-static/MANIFEST, a file's bytes (`include_bytes!`)
//! or a symlink's target, in `$OUT_DIR/builtin_static.rs` (for the tests);
//! and the layer made of them and of rko's own files, already compressed,
//! with its digest and diff ID, in `$OUT_DIR/builtin_static_layer.rs`
//! (see build/builtin_layer.rs). The files are in the repository, so
//! building rko needs no network.

#[path = "build/builtin_layer.rs"]
mod builtin_layer;
#[path = "src/image/compress/deflate.rs"]
mod deflate;
#[path = "src/image/builtin/root.rs"]
mod root;
#[path = "src/image/layer/ustar.rs"]
mod ustar;

use builtin_layer::{Entry, Kind};
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vendor = manifest_dir.join("third_party/builtin-static");
    for input in [
        vendor.clone(),
        manifest_dir.join("build"),
        manifest_dir.join("src/image/builtin/root.rs"),
        manifest_dir.join("src/image/compress/deflate.rs"),
        manifest_dir.join("src/image/layer/ustar.rs"),
    ] {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let vendored = read_manifest(&vendor);
    write(&out_dir.join("builtin_static.rs"), vendored_code(&vendored));
    let layer = layer_code(&vendored, &out_dir);
    write(&out_dir.join("builtin_static_layer.rs"), layer);
}

/// One line of MANIFEST.
enum Vendored {
    File {
        path: String,
        sha256: String,
        on_disk: PathBuf,
    },
    Symlink {
        path: String,
        target: String,
    },
}

fn read_manifest(vendor: &Path) -> Vec<Vendored> {
    let manifest = std::fs::read_to_string(vendor.join("MANIFEST"))
        .unwrap_or_else(|e| panic!("{}/MANIFEST: {e}", vendor.display()));
    let mut vendored = Vec::new();
    for (number, line) in manifest.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        vendored.push(match fields[..] {
            ["file", path, sha256, _source] => Vendored::File {
                path: path.to_string(),
                sha256: sha256.to_string(),
                on_disk: vendor.join("root").join(path),
            },
            ["symlink", path, target, _source] => Vendored::Symlink {
                path: path.to_string(),
                target: target.to_string(),
            },
            _ => panic!("MANIFEST line {}: cannot read {line:?}", number + 1),
        });
    }
    vendored
}

/// `FILES` and `SYMLINKS`, as builtin.rs's `vendored` module declares them.
fn vendored_code(vendored: &[Vendored]) -> String {
    let mut files = String::new();
    let mut symlinks = String::new();
    for item in vendored {
        match item {
            Vendored::File {
                path,
                sha256,
                on_disk,
            } => writeln!(
                files,
                "    VendoredFile {{ path: {path:?}, sha256: {sha256:?}, \
                 bytes: include_bytes!({:?}) }},",
                on_disk.display().to_string()
            ),
            Vendored::Symlink { path, target } => writeln!(
                symlinks,
                "    VendoredSymlink {{ path: {path:?}, target: {target:?} }},"
            ),
        }
        .unwrap();
    }
    format!(
        "pub static FILES: &[VendoredFile] = &[\n{files}];\n\
         pub static SYMLINKS: &[VendoredSymlink] = &[\n{symlinks}];\n"
    )
}

/// Builds the layer into `out_dir` and returns the code naming it: `LAYER`
/// (the gzipped bytes), `LAYER_DIGEST` and `LAYER_DIFF_ID`.
fn layer_code(vendored: &[Vendored], out_dir: &Path) -> String {
    let file = |path: &str, bytes: Vec<u8>| Entry {
        path: path.to_string(),
        kind: Kind::File(bytes),
        mode: root::FILE_MODE,
        owner: 0,
    };
    let mut entries: Vec<Entry> = root::files()
        .into_iter()
        .map(|(path, bytes)| file(path, bytes))
        .collect();
    entries.extend(root::DIRS.iter().map(|&(path, mode, owner)| Entry {
        path: path.to_string(),
        kind: Kind::Dir,
        mode,
        owner,
    }));
    entries.extend(vendored.iter().map(|item| match item {
        Vendored::File { path, on_disk, .. } => {
            let bytes =
                std::fs::read(on_disk).unwrap_or_else(|e| panic!("{}: {e}", on_disk.display()));
            file(path, bytes)
        }
        Vendored::Symlink { path, target } => Entry {
            path: path.clone(),
            kind: Kind::Symlink(target.clone()),
            mode: 0o777,
            owner: 0,
        },
    }));
    let tar = builtin_layer::tar(entries, root::DIR_MODE, root::MTIME);
    let gzipped = builtin_layer::gzip(&tar, root::GZIP_LEVEL);
    let blob = out_dir.join("builtin_static.tar.gz");
    write(&blob, &gzipped);
    let sha256 = |bytes: &[u8]| format!("sha256:{}", hex(&Sha256::digest(bytes)));
    format!(
        "pub static LAYER: &[u8] = include_bytes!({:?});\n\
         pub const LAYER_DIGEST: &str = {:?};\n\
         pub const LAYER_DIFF_ID: &str = {:?};\n",
        blob.display().to_string(),
        sha256(&gzipped),
        sha256(&tar)
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

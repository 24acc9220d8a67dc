//! Embeds the vendored files of the `builtin:static` base: for every line of
//! third_party/builtin-static/MANIFEST, a file's bytes (`include_bytes!`) or
//! a symlink's target, in `$OUT_DIR/builtin_static.rs`. The files are in the
//! repository, so building rko needs no network.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let vendor = Path::new(env!("CARGO_MANIFEST_DIR")).join("third_party/builtin-static");
    println!("cargo:rerun-if-changed={}", vendor.display());
    let manifest = std::fs::read_to_string(vendor.join("MANIFEST"))
        .unwrap_or_else(|e| panic!("{}/MANIFEST: {e}", vendor.display()));
    let mut files = String::new();
    let mut symlinks = String::new();
    for (number, line) in manifest.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["file", path, sha256, _source] => {
                let on_disk = vendor.join("root").join(path);
                writeln!(
                    files,
                    "    VendoredFile {{ path: {path:?}, sha256: {sha256:?}, \
                     bytes: include_bytes!({:?}) }},",
                    on_disk.display().to_string()
                )
                .unwrap();
            }
            ["symlink", path, target, _source] => {
                writeln!(
                    symlinks,
                    "    VendoredSymlink {{ path: {path:?}, target: {target:?} }},"
                )
                .unwrap();
            }
            _ => panic!("MANIFEST line {}: cannot read {line:?}", number + 1),
        }
    }
    let code = format!(
        "pub static FILES: &[VendoredFile] = &[\n{files}];\n\
         pub static SYMLINKS: &[VendoredSymlink] = &[\n{symlinks}];\n"
    );
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin_static.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

//! What `builtin:static` holds besides the vendored files, and how its
//! layer is written: rko's own files and directories and the fixed layer
//! settings. Shared by `build.rs`, which builds the layer when rko is built,
//! and `builtin.rs`, whose tests build it again with rko's layer writer; so
//! it uses only std, base64 and webpki-root-certs.

// build.rs and builtin.rs's tests use all of it; rko itself only what
// the image's config names.
#![allow(dead_code)]

use base64::Engine as _;

pub const NONROOT: u64 = 65532;
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// The mode of a file, and of a directory no entry below sets.
pub const FILE_MODE: u32 = 0o644;
pub const DIR_MODE: u32 = 0o755;

/// Fixed settings: changing either changes the digest of every image built
/// on builtin:static. gzip level 6: with the time zone database, level 9
/// took three times the CPU (140 ms against 46 ms when rko compressed it at
/// run time) for a larger layer (345 kB against 338 kB).
pub const GZIP_LEVEL: u32 = 6;
pub const MTIME: u64 = 0;

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";
const NSSWITCH: &str = "hosts: files dns\n";

/// The files rko writes itself: (path, content), mode [`FILE_MODE`].
pub fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("etc/passwd", PASSWD.into()),
        ("etc/group", GROUP.into()),
        ("etc/nsswitch.conf", NSSWITCH.into()),
        (CA_BUNDLE, ca_bundle().into_bytes()),
    ]
}

/// The directories rko adds: (path, mode, owner's uid and gid).
pub const DIRS: [(&str, u32, u64); 3] = [
    ("tmp", 0o1777, 0),
    ("root", 0o700, 0),
    ("home/nonroot", 0o700, NONROOT),
];

/// The Mozilla root certificates of webpki-root-certs, as one PEM bundle.
fn ca_bundle() -> String {
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

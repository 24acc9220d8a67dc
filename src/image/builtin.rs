//! `builtin:static`, the default base: what a distroless static base has
//! (time zone database, CA bundle, passwd/group with nonroot 65532,
//! nsswitch.conf, /tmp, os-release, /etc/services and mime.types, the
//! licences of what it ships), embedded in rko and built the same way
//! every time. The third-party files are vendored from pinned sources in
//! third_party/builtin-static (see its SOURCES and
//! scripts/update-builtin-static); `build.rs` makes the layer of them and
//! of rko's own files ([`root`]) when rko is built, already compressed, so
//! that a run only copies it.

mod root;

use crate::error::Result;
use crate::image::base::{Base, BaseBlobs};
use crate::image::compress::{Compressed, Compression};
use crate::image::config;
use crate::image::descriptor::LayerDescriptor;
use crate::image::platform::Platform;
use crate::json;
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use serde_json::json;

/// A vendored file, as third_party/builtin-static/MANIFEST lists it.
#[cfg(test)]
#[derive(Debug)]
pub struct VendoredFile {
    pub path: &'static str,
    pub sha256: &'static str,
    pub bytes: &'static [u8],
}

/// A vendored symlink, as MANIFEST lists it.
#[cfg(test)]
#[derive(Debug)]
pub struct VendoredSymlink {
    pub path: &'static str,
    pub target: &'static str,
}

/// The vendored files one by one, for the tests to check the layer against.
#[cfg(test)]
mod vendored {
    use super::{VendoredFile, VendoredSymlink};
    include!(concat!(env!("OUT_DIR"), "/builtin_static.rs"));
}

/// The layer `build.rs` made: `LAYER`, `LAYER_DIGEST`, `LAYER_DIFF_ID`.
mod built {
    include!(concat!(env!("OUT_DIR"), "/builtin_static_layer.rs"));
}

/// The `builtin:static` base for `platform`: one layer for every platform,
/// a config naming the platform.
pub fn base(platform: Platform) -> Result<Base> {
    let layer = layer()?;
    let mut config = config::empty(&platform);
    config["created"] = json!(config::rfc3339(0));
    config["config"] = json!({
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            format!("SSL_CERT_FILE=/{}", root::CA_BUNDLE),
        ],
        "User": root::NONROOT.to_string(),
    });
    config["rootfs"]["diff_ids"] = json!([layer.diff_id.to_string()]);
    config["history"] =
        json!([{"created": config::rfc3339(0), "created_by": "rko builtin:static"}]);

    let config_bytes = json::to_canonical_vec(&config);
    let config_descriptor = Descriptor::new(
        MediaType::ImageConfig,
        config_bytes.len() as u64,
        crate::digest::sha256(&config_bytes),
    );
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_descriptor)
        .layers(vec![layer.oci()])
        .build()
        .expect("every required manifest field is set");
    let manifest_digest = crate::digest::sha256(&json::to_canonical_vec(&manifest));
    Ok(Base {
        config,
        layers: vec![layer.oci()],
        blobs: BaseBlobs::Memory(vec![built::LAYER.to_vec()]),
        manifest_digest: Some(manifest_digest),
        docker: false,
        blob_source: None,
        platform,
    })
}

/// The descriptor of the layer `build.rs` made.
fn layer() -> Result<LayerDescriptor> {
    Ok(LayerDescriptor::new(
        Compression::Gzip,
        Compressed {
            diff_id: crate::digest::parse(built::LAYER_DIFF_ID)?,
            digest: crate::digest::parse(built::LAYER_DIGEST)?,
            size: built::LAYER.len() as u64,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::{self, Defaults, EntrySpec, Source};
    use crate::readers::{check_named, read_tar_bytes, sha256_hex, TarListing, Want};
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::path::Path;
    use std::sync::Arc;

    /// The layer's tar as rko's own layer writer makes it of the vendored
    /// files and [`root`]'s.
    fn tar_by_the_layer_writer() -> Vec<u8> {
        let file = |dest: &str, content: Vec<u8>| EntrySpec::File {
            source: Source::Bytes(Arc::from(content)),
            dest: dest.to_string(),
            mode: Some(root::FILE_MODE),
            pax: Default::default(),
        };
        let mut specs: Vec<EntrySpec> = root::files()
            .into_iter()
            .map(|(path, content)| file(path, content))
            .collect();
        specs.extend(root::DIRS.iter().map(|(path, mode, _)| EntrySpec::Dir {
            dest: path.to_string(),
            mode: Some(*mode),
        }));
        specs.extend(
            vendored::FILES
                .iter()
                .map(|f| file(f.path, f.bytes.to_vec())),
        );
        specs.extend(vendored::SYMLINKS.iter().map(|s| EntrySpec::Symlink {
            dest: s.path.to_string(),
            target: s.target.to_string(),
        }));
        let defaults = Defaults {
            file_mode: root::FILE_MODE,
            dir_mode: root::DIR_MODE,
            uid: 0,
            gid: 0,
            allow_root: None,
        };
        let mut entries = layer::plan(&specs, &defaults).unwrap();
        for entry in &mut entries {
            if let Some((_, _, owner)) = root::DIRS.iter().find(|(p, ..)| *p == entry.path) {
                entry.uid = *owner;
                entry.gid = *owner;
            }
        }
        let mut tar = Vec::new();
        layer::write_tar(&entries, root::MTIME, &mut tar).unwrap();
        tar
    }

    /// The layer build.rs embedded is gzip of the very tar rko's layer
    /// writer makes, and its digest, diff ID and size are that blob's.
    #[test]
    fn the_embedded_layer_is_the_layer_writers_tar_and_its_digests_are_right() {
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(built::LAYER)
            .read_to_end(&mut unpacked)
            .unwrap();
        let tar = tar_by_the_layer_writer();
        assert!(unpacked == tar, "build.rs and rko's layer writer differ");
        let descriptor = layer().unwrap();
        assert_eq!(descriptor.diff_id, crate::digest::sha256(&tar));
        assert_eq!(descriptor.digest, crate::digest::sha256(built::LAYER));
        assert_eq!(descriptor.size, built::LAYER.len() as u64);
        assert_eq!(descriptor.media_type, MediaType::ImageLayerGzip);
    }

    #[test]
    fn builtin_static_is_the_same_every_time_and_per_platform_config() {
        let amd = base(Platform::default_target()).unwrap();
        let again = base(Platform::default_target()).unwrap();
        assert_eq!(amd.manifest_digest, again.manifest_digest);
        let arm = base("linux/arm64".parse().unwrap()).unwrap();
        assert_eq!(amd.layers, arm.layers, "one layer serves every platform");
        assert_ne!(amd.manifest_digest, arm.manifest_digest);
        assert_eq!(arm.config["architecture"], json!("arm64"));
    }

    /// Images on builtin:static keep their digests from one rko build to the
    /// next; this changes only on purpose (a new pin in
    /// third_party/builtin-static/SOURCES, or a new webpki-root-certs).
    /// Readers that are not rko's first say what the pinned base holds:
    /// what DESIGN.md lists, and a config whose diffID is that of the tar
    /// they read.
    #[test]
    fn builtin_static_digest_is_pinned() {
        let image = base(Platform::default_target()).unwrap();
        let listing = read_tar_bytes(built::LAYER);
        let root = extracted_by_gnu_tar(built::LAYER);
        check_what_design_lists(&listing, root.path());
        assert_eq!(
            image.config["rootfs"]["diff_ids"],
            json!([format!("sha256:{}", listing.tar_sha256)]),
            "the config's diffID is the sha256 of the tar Python read"
        );
        assert_eq!(
            image.layers[0].digest().to_string(),
            format!("sha256:{}", sha256_hex(built::LAYER))
        );
        assert_eq!(image.config["config"]["User"], json!("65532"));
        let env = image.config["config"]["Env"].to_string();
        assert!(
            env.contains("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
            "{env}"
        );

        assert_eq!(
            image.manifest_digest.unwrap().to_string(),
            "sha256:945d44ec1366411a7dee7ca8e1679e4a146307975c8db6e26d6931b38b178fff"
        );
    }

    /// A directory holding `layer` as GNU tar extracts it.
    fn extracted_by_gnu_tar(layer: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("layer.tar.gz");
        std::fs::write(&blob, layer).unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let out = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(&blob)
            .arg("-C")
            .arg(&root)
            .output()
            .unwrap_or_else(|e| panic!("this test needs GNU tar: {e}; `apt-get install tar`"));
        assert!(
            out.status.success(),
            "GNU tar cannot extract the layer: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    }

    /// DESIGN.md's builtin:static: `/etc/passwd` and `/etc/group` with
    /// root and nonroot 65532, `/etc/nsswitch.conf`, `/tmp` 1777,
    /// `/home/nonroot`, a CA bundle; every entry dated 0, owned by root
    /// but nonroot's home, without user or group names, parents first.
    /// Headers as Python's tarfile reads them; content as GNU tar
    /// extracted it under `dir`/root (so the two readers must agree).
    fn check_what_design_lists(listing: &TarListing, dir: &Path) {
        let root = dir.join("root");
        let read = |path: &str| std::fs::read(root.join(path)).unwrap();
        let text = |path: &str| String::from_utf8(read(path)).unwrap();
        let file = |path: &str| Want::file(path, read(path), 0o644);
        check_named(
            &listing.entries,
            &[
                Want::dir("etc", 0o755),
                file("etc/passwd"),
                file("etc/group"),
                file("etc/nsswitch.conf"),
                file(root::CA_BUNDLE),
                Want::dir("tmp", 0o1777),
                Want::dir("root", 0o700),
                Want::dir("home", 0o755),
                Want::dir("home/nonroot", 0o700).owned_by(65532, 65532),
            ],
        );

        // name:password:uid:gid:gecos:home:shell, and name:password:gid:members.
        let fields = |line: &str| line.split(':').map(str::to_string).collect::<Vec<_>>();
        let passwd: Vec<_> = text("etc/passwd").lines().map(fields).collect();
        for want in [
            "root:x:0:0:root:/root:/sbin/nologin",
            "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin",
        ] {
            assert!(passwd.contains(&fields(want)), "{want} not in {passwd:?}");
        }
        let group: Vec<_> = text("etc/group").lines().map(fields).collect();
        for want in ["root:x:0:", "nonroot:x:65532:"] {
            assert!(group.contains(&fields(want)), "{want} not in {group:?}");
        }
        let nsswitch = text("etc/nsswitch.conf");
        assert!(
            nsswitch.lines().any(|l| l == "hosts: files dns"),
            "{nsswitch:?}"
        );
        assert_eq!(
            ca_certificates_loaded(&root.join(root::CA_BUNDLE)),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len(),
            "CA certificates OpenSSL loads from the bundle (Python's ssl)"
        );

        let mut seen = std::collections::BTreeSet::new();
        for entry in &listing.entries {
            let owner = (entry.uid, entry.gid);
            let nonroot = entry.name == "home/nonroot";
            let want_owner = if nonroot { (65532, 65532) } else { (0, 0) };
            assert_eq!(owner, want_owner, "{}: uid and gid", entry.name);
            assert_eq!(entry.mtime, 0, "{}: mtime", entry.name);
            assert_eq!((&*entry.uname, &*entry.gname), ("", ""), "{}", entry.name);
            assert_eq!(entry.magic, "ustar\u{0}00", "{}: magic", entry.name);
            if let Some((parent, _)) = entry.name.rsplit_once('/') {
                assert!(seen.contains(parent), "{} before its parent", entry.name);
            }
            seen.insert(entry.name.as_str());
        }
    }

    /// How many CA certificates OpenSSL, through Python's ssl, loads
    /// from `bundle`.
    fn ca_certificates_loaded(bundle: &Path) -> usize {
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import ssl, sys; context = ssl.create_default_context(cafile=sys.argv[1]); \
                 print(context.cert_store_stats()['x509_ca'])",
            )
            .arg(bundle)
            .output()
            .unwrap_or_else(|e| panic!("this test needs python3: {e}; `apt-get install python3`"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "Python's ssl cannot load {}: {}",
            bundle.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout.trim().parse().unwrap()
    }

    fn vendor_dir() -> &'static Path {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/third_party/builtin-static"
        ))
    }

    /// Every embedded file has the digest MANIFEST records, and root/ on
    /// disk holds exactly what MANIFEST lists (no stray or missing file).
    #[test]
    fn vendored_files_match_the_manifest() {
        for file in vendored::FILES {
            assert_eq!(
                crate::digest::sha256(file.bytes).digest(),
                file.sha256,
                "{}: run scripts/update-builtin-static --check",
                file.path
            );
        }
        let mut listed: BTreeMap<String, String> = vendored::FILES
            .iter()
            .map(|f| (f.path.to_string(), format!("file {}", f.sha256)))
            .collect();
        listed.extend(
            vendored::SYMLINKS
                .iter()
                .map(|s| (s.path.to_string(), format!("symlink {}", s.target))),
        );
        let root = vendor_dir().join("root");
        let mut on_disk = BTreeMap::new();
        for entry in walkdir::WalkDir::new(&root) {
            let entry = entry.unwrap();
            let rel = entry.path().strip_prefix(&root).unwrap();
            let rel = rel.to_str().unwrap().to_string();
            let kind = if entry.path_is_symlink() {
                let target = std::fs::read_link(entry.path()).unwrap();
                format!("symlink {}", target.display())
            } else if entry.file_type().is_file() {
                let bytes = std::fs::read(entry.path()).unwrap();
                format!("file {}", crate::digest::sha256(&bytes).digest())
            } else {
                continue;
            };
            on_disk.insert(rel, kind);
        }
        assert_eq!(on_disk, listed);
    }

    /// The CA bundle's licence is that of the webpki-root-certs that
    /// Cargo.lock pins, which is where the bundle comes from.
    #[test]
    fn the_ca_bundle_licence_is_for_the_crate_cargo_lock_pins() {
        let sources = std::fs::read_to_string(vendor_dir().join("SOURCES")).unwrap();
        let pinned = sources
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.get(1) == Some(&"webpki-root-certs"))
            .expect("SOURCES pins webpki-root-certs");
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
        let locked = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"webpki-root-certs\""))
            .unwrap();
        assert!(
            locked.contains(&format!("version = \"{}\"", pinned[2]))
                && locked.contains(&format!("checksum = \"{}\"", pinned[3])),
            "SOURCES pins webpki-root-certs {} but Cargo.lock has:{locked}",
            pinned[2]
        );
    }

    /// Type, mode, uid and a piece of the content of each layer entry.
    fn layer_entries() -> BTreeMap<String, (char, u32, u64, String)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(built::LAYER));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let header = e.header().clone();
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes).unwrap();
                let content = match e.link_name().unwrap() {
                    Some(link) => link.display().to_string(),
                    None => String::from_utf8_lossy(&bytes).into_owned(),
                };
                let path = e.path().unwrap().display().to_string();
                let kind = header.entry_type().as_byte() as char;
                let mode = header.mode().unwrap();
                (path, (kind, mode, header.uid().unwrap(), content))
            })
            .collect()
    }

    #[test]
    fn builtin_static_has_what_a_distroless_static_base_has() {
        let entries = layer_entries();
        // (path, type flag, mode, uid, a piece of the content)
        let cases = [
            ("etc/passwd", '0', 0o644, 0, "nonroot:x:65532:65532:"),
            ("etc/group", '0', 0o644, 0, "nonroot:x:65532:"),
            ("etc/nsswitch.conf", '0', 0o644, 0, "hosts: files dns"),
            ("etc/os-release", '0', 0o644, 0, "ID=rko\n"),
            ("etc/services", '0', 0o644, 0, "https\t\t443/tcp"),
            ("etc/mime.types", '0', 0o644, 0, "application/json"),
            (root::CA_BUNDLE, '0', 0o644, 0, "BEGIN CERTIFICATE"),
            ("usr/share/zoneinfo/Europe/Paris", '0', 0o644, 0, "TZif"),
            (
                "usr/share/zoneinfo/US/Eastern",
                '2',
                0o777,
                0,
                "../America/New_York",
            ),
            (
                "usr/share/zoneinfo/posix/Europe",
                '2',
                0o777,
                0,
                "../Europe",
            ),
            ("usr/share/doc/tzdata/copyright", '0', 0o644, 0, "tz"),
            (
                "usr/share/doc/netbase/copyright",
                '0',
                0o644,
                0,
                "License: GPL-2",
            ),
            (
                "usr/share/common-licenses/GPL-2",
                '0',
                0o644,
                0,
                "GNU GENERAL PUBLIC LICENSE",
            ),
            ("usr/share/doc/media-types/copyright", '0', 0o644, 0, ""),
            (
                "usr/share/doc/webpki-root-certs/copyright",
                '0',
                0o644,
                0,
                "Permissive",
            ),
            ("tmp/", '5', 0o1777, 0, ""),
            ("root/", '5', 0o700, 0, ""),
            ("home/nonroot/", '5', 0o700, 65532, ""),
            ("usr/share/zoneinfo/", '5', 0o755, 0, ""),
        ];
        for (path, kind, mode, uid, content) in cases {
            let (got_kind, got_mode, got_uid, got_content) = entries
                .get(path)
                .unwrap_or_else(|| panic!("{path} is not in builtin:static"));
            assert_eq!(
                (*got_kind, *got_mode, *got_uid),
                (kind, mode, uid),
                "{path}"
            );
            assert!(got_content.contains(content), "{path}: {got_content:?}");
        }
        for absent in ["usr/share/zoneinfo/right/", "usr/share/zoneinfo/localtime"] {
            assert!(!entries.contains_key(absent), "{absent}");
        }
    }
}

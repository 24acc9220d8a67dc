//! `rko push --remote-cache` (issue 23): the layers a sparse layout lacks
//! are read from a REAPI cache, bazel-remote here, the one many Bazel users
//! run: small ones in a batch, large ones streamed into their uploads and
//! resumed where a broken connection left them. The pushed image is the
//! full layout's; a blob the cache lacks is explained and nothing tagged.

use crate::util::bazel_remote::BazelRemote;
use crate::util::registry::{free_port, make_tls, Auth, Registry, PASSWORD, USER};
use crate::util::*;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A 3 MB layer of random bytes (streamed: over the batch size) and a
/// small one (read in a batch), each (blob, descriptor); and the full and
/// sparse layouts of an image of the two.
struct Image {
    layers: Vec<(PathBuf, PathBuf)>,
    full: PathBuf,
    sparse: PathBuf,
}

fn image(d: &Path) -> Image {
    let big = d.join("big.bin");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let bytes: Vec<u8> = (0..3_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    fs::write(&big, bytes).unwrap();
    fs::write(d.join("small.txt"), "small\n").unwrap();
    let layers = vec![
        layer(d, "big", &[&format!("--file={}=/big.bin", big.display())]),
        layer(
            d,
            "small",
            &[&format!(
                "--file={}=/small.txt",
                d.join("small.txt").display()
            )],
        ),
    ];
    let append = |out: &Path, flag: &str| {
        let mut cmd = rko();
        cmd.args(["append", "--base=builtin:static", "--platform=linux/amd64"]);
        for layer in &layers {
            match flag {
                "--layer" => cmd.arg(format!("--layer={}", layer_arg(layer))),
                _ => cmd.arg(format!("--layer-descriptor={}", layer.1.display())),
            };
        }
        run_ok(cmd.arg("--out").arg(out))
    };
    let (full, sparse) = (d.join("full"), d.join("sparse"));
    assert_eq!(
        append(&full, "--layer"),
        append(&sparse, "--layer-descriptor")
    );
    Image {
        layers,
        full,
        sparse,
    }
}

/// Stores the layers in the cache through its HTTP front end, as Bazel
/// does for outputs.
fn upload(cache: &BazelRemote, layers: &[(PathBuf, PathBuf)]) {
    for (blob, desc) in layers {
        let digest = read_json(desc)["digest"].as_str().unwrap().to_string();
        let url = format!(
            "http://{}/cas/{}",
            cache.host(),
            digest.trim_start_matches("sha256:")
        );
        ureq::put(&url).send(fs::read(blob).unwrap()).unwrap();
    }
}

fn size(layer: &(PathBuf, PathBuf)) -> u64 {
    read_json(&layer.1)["size"].as_u64().unwrap()
}

/// `rko push` of the image's sparse layout to `target`, the layer files
/// only hints (`gone/…`, not there), reading the rest from `grpc`.
fn push(d: &Path, image: &Image, target: &str, grpc: &str) -> std::process::Command {
    let mut cmd = rko_in(&d.join("docker"));
    cmd.arg("push").arg(&image.sparse).arg(target);
    for (blob, desc) in &image.layers {
        let hint = d.join("gone").join(blob.file_name().unwrap());
        cmd.arg(format!("--layer={}={}", hint.display(), desc.display()));
    }
    cmd.args(["--remote-cache", grpc]);
    cmd
}

/// A cache holding the first `cached` layers of an image, an empty
/// registry, and the digest the image's full layout gets there.
struct Setup {
    dir: tempfile::TempDir,
    image: Image,
    cache: BazelRemote,
    registry: Registry,
}

impl Setup {
    fn start(cached: usize) -> Setup {
        let dir = temp_dir();
        let image = image(dir.path());
        let cache = BazelRemote::start(&dir.path().join("cache"));
        upload(&cache, &image.layers[..cached]);
        Setup {
            image,
            cache,
            registry: Registry::start(Auth::None),
            dir,
        }
    }

    /// The cache's gRPC address.
    fn grpc(&self) -> String {
        format!("grpc://{}", self.cache.grpc_address())
    }

    /// The digest of the full layout, pushed to `full:v1`.
    fn full_digest(&self) -> String {
        let d = self.dir.path();
        pushed_digest(&run_ok(
            rko_in(&d.join("docker"))
                .arg("push")
                .arg(&self.image.full)
                .arg(format!("{}/full:v1", self.registry.host())),
        ))
    }
}

/// The bytes read from the cache, as push's summary line gives them.
fn read_from_cache(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("came from the remote cache"))
        .unwrap_or_else(|| panic!("no remote cache line: {stderr}"));
    line.rsplit(": ")
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_sparse_layout_is_pushed_from_bazel_remote_as_the_full_layout_is() {
    let setup = Setup::start(2);
    let (d, image, cache, registry) = (
        setup.dir.path(),
        &setup.image,
        &setup.cache,
        &setup.registry,
    );
    let grpc = setup.grpc();
    let full = setup.full_digest();
    let target = format!("{}/lazy:v1", registry.host());
    let (stdout, stderr) = run_ok_with_stderr(&mut push(d, image, &target, &grpc));
    assert_eq!(pushed_digest(&stdout), full);
    // Each layer read once, the small one in a batch, the big one streamed.
    assert_eq!(
        read_from_cache(&stderr),
        size(&image.layers[0]) + size(&image.layers[1])
    );
    let log = cache.log();
    let hex = |layer: &(PathBuf, PathBuf)| {
        read_json(&layer.1)["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_string()
    };
    assert!(
        log.contains(&format!(
            "BYTESTREAM READ COMPLETED blobs/{}/",
            hex(&image.layers[0])
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("GRPC CAS GET {} OK", hex(&image.layers[1]))),
        "{log}"
    );
    // skopeo copies every blob out of the registry.
    run_ok(
        skopeo("copy")
            .arg(format!("docker://{target}"))
            .arg(format!("oci:{}:v1", d.join("copied").display())),
    );

    // Again: the registry has every blob; nothing is read from the cache.
    let (_, again) = run_ok_with_stderr(&mut push(d, image, &target, &grpc));
    assert_eq!(read_from_cache(&again), 0, "{again}");
}

#[test]
fn a_blob_the_cache_lacks_is_explained_and_nothing_is_tagged() {
    let setup = Setup::start(1);
    let (d, image, registry) = (setup.dir.path(), &setup.image, &setup.registry);
    let grpc = setup.grpc();
    let target = format!("{}/evicted:v1", registry.host());
    let err = run_err(&mut push(d, image, &target, &grpc));
    let missing = read_json(&image.layers[1].1)["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&missing)
            && err.contains(&grpc)
            && err.contains("is not in the cache")
            && err.contains("--remote_upload_local_results"),
        "{err}"
    );
    assert!(
        listed_tags(&format!("{}/evicted", registry.host())).is_empty(),
        "a failed push tagged"
    );

    // Without a cache, a hint that is not there is a missing file, named.
    let mut no_cache = rko_in(&d.join("docker"));
    no_cache.arg("push").arg(&image.sparse).arg(&target);
    let hint = d.join("gone/big.tar.gz");
    no_cache.arg(format!(
        "--layer={}={}",
        hint.display(),
        image.layers[0].1.display()
    ));
    let err = run_err(&mut no_cache);
    assert!(err.contains(&hint.display().to_string()), "{err}");
}

/// A TCP relay to `upstream` that cuts its first connection once `cut`
/// bytes came back through it; counts the connections.
struct CuttingRelay {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl CuttingRelay {
    fn start(upstream: String, cut: usize) -> CuttingRelay {
        let port = free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
                let server = TcpStream::connect(&upstream).unwrap();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(c2, s2, usize::MAX));
                std::thread::spawn(move || {
                    pump(server, client, if first { cut } else { usize::MAX })
                });
            }
        });
        CuttingRelay { port, connections }
    }
}

/// Copies `from` to `to` until either ends, or `limit` bytes passed: then
/// both are shut.
fn pump(mut from: TcpStream, mut to: TcpStream, limit: usize) {
    let (mut buf, mut passed) = (vec![0; 16 << 10], 0);
    while passed < limit {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n.min(limit - passed),
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        passed += n;
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

#[test]
fn a_stream_broken_midway_is_read_on_from_where_it_broke() {
    let setup = Setup::start(2);
    let (d, image, cache, registry) = (
        setup.dir.path(),
        &setup.image,
        &setup.cache,
        &setup.registry,
    );
    let relay = CuttingRelay::start(cache.grpc_address(), 1 << 20);
    let grpc = format!("grpc://127.0.0.1:{}", relay.port);
    let target = format!("{}/resumed:v1", registry.host());
    let full = setup.full_digest();
    let (stdout, stderr) = run_ok_with_stderr(push(d, image, &target, &grpc).arg("-v"));
    assert_eq!(pushed_digest(&stdout), full);
    assert_eq!(relay.connections.load(Ordering::SeqCst), 2, "{stderr}");
    // Read on from the break, not from the start: each byte once.
    let whole = size(&image.layers[0]) + size(&image.layers[1]);
    assert_eq!(read_from_cache(&stderr), whole, "{stderr}");
    assert!(stderr.contains("again from byte"), "{stderr}");
}

#[test]
fn a_cache_behind_tls_and_a_password_is_read_with_the_password_in_its_address_and_a_credential_helper(
) {
    let dir = temp_dir();
    let d = dir.path();
    let image = image(d);
    let registry = Registry::start(Auth::None);
    let tls = d.join("tls");
    fs::create_dir_all(&tls).unwrap();
    let (ca, cert, key) = make_tls(&tls, &[]);
    let htpasswd = run_ok(Command::new(require("htpasswd")).args(["-Bbn", USER, PASSWORD]));
    fs::write(d.join("htpasswd"), htpasswd).unwrap();
    let cache = BazelRemote::start_with(
        &d.join("cache"),
        &[
            format!("--htpasswd_file={}", d.join("htpasswd").display()),
            format!("--tls_cert_file={}", cert.display()),
            format!("--tls_key_file={}", key.display()),
        ],
    );
    for (blob, desc) in &image.layers {
        let digest = read_json(desc)["digest"].as_str().unwrap().to_string();
        let url = format!(
            "https://{}/cas/{}",
            cache.host(),
            digest.trim_start_matches("sha256:")
        );
        run_ok(
            Command::new(require("curl"))
                .args(["-fsS", "-X", "PUT", "--cacert"])
                .arg(&ca)
                .args(["-u", &format!("{USER}:{PASSWORD}"), "--data-binary"])
                .arg(format!("@{}", blob.display()))
                .arg(&url),
        );
    }
    let grpcs = format!("grpcs://{}", cache.grpc_address());
    let full = {
        let mut cmd = rko_in(&d.join("docker"));
        cmd.arg("push")
            .arg(&image.full)
            .arg(format!("{}/full:v1", registry.host()));
        pushed_digest(&run_ok(&mut cmd))
    };
    let push_as = |repository: &str, address: &str, extra: &[String]| {
        let target = format!("{}/{repository}:v1", registry.host());
        let mut cmd = push(d, &image, &target, address);
        cmd.arg("--remote-cache-ca").arg(&ca).args(extra);
        cmd
    };

    // No credentials: the cache's refusal, named.
    let err = run_err(&mut push_as("none", &grpcs, &[]));
    assert!(
        err.contains(&grpcs) && err.contains("UNAUTHENTICATED"),
        "{err}"
    );

    // USER:PASSWORD@ in the address, as Bazel's --remote_cache takes it
    // (bazel-remote reads it from the :authority); never printed.
    let with_password = format!("grpcs://{USER}:{PASSWORD}@{}", cache.grpc_address());
    let (stdout, stderr) = run_ok_with_stderr(&mut push_as("password", &with_password, &[]));
    assert_eq!(pushed_digest(&stdout), full);
    assert!(
        stderr.contains(&grpcs) && !stderr.contains(PASSWORD),
        "{stderr}"
    );

    // A credential helper, as Bazel's --credential_helper: asked with the
    // cache's https URI (no password in it); its headers go with each call.
    let helper = d.join("helper.sh");
    let asked = d.join("asked.json");
    let answer = format!("{{\"headers\":{{\"x-rko-test\":[\"{}\"]}}}}", "yes");
    fs::write(
        &helper,
        format!("#!/bin/sh\ncat > {}\necho '{answer}'\n", asked.display()),
    )
    .unwrap();
    fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let flag = format!("--remote-credential-helper={}", helper.display());
    let pushed = run_ok(&mut push_as("helper", &with_password, &[flag]));
    assert_eq!(pushed_digest(&pushed), full);
    assert_eq!(
        read_json(&asked)["uri"],
        format!("https://{}", cache.grpc_address())
    );

    // A helper that fails: named, with what it said.
    fs::write(&helper, "#!/bin/sh\necho 'no token for you' >&2\nexit 3\n").unwrap();
    let flag = format!("--remote-credential-helper={}", helper.display());
    let err = run_err(&mut push_as("failed", &with_password, &[flag]));
    assert!(
        err.contains(&helper.display().to_string()) && err.contains("no token for you"),
        "{err}"
    );
}

#[test]
fn a_sparse_layout_exports_from_the_cache_to_the_full_layouts_bytes() {
    let setup = Setup::start(2);
    let (d, image, cache) = (setup.dir.path(), &setup.image, &setup.cache);
    let export = |layout: &Path, out: &str, cache: Option<String>| {
        let mut cmd = rko();
        cmd.arg("export")
            .arg(layout)
            .args(["--format", "docker", "--tag", "app:v1"]);
        if let Some(address) = cache {
            cmd.args(["--remote-cache", &address]);
            cmd.arg(format!(
                "--blob-hint={}",
                d.join("gone/big.tar.gz").display()
            ));
        }
        run_ok(cmd.arg("--out").arg(d.join(out)))
    };
    export(&image.full, "full.tar", None);
    let grpc = format!("grpc://{}", cache.grpc_address());
    export(&image.sparse, "sparse.tar", Some(grpc));
    assert!(
        fs::read(d.join("full.tar")).unwrap() == fs::read(d.join("sparse.tar")).unwrap(),
        "the archive of the sparse layout, its layers from the cache, differs"
    );
}

//! Manifests and indexes as a registry sends them to `pull` (and to a
//! build's base image): the first byte chooses the platforms asked for,
//! `--shallow` and whether a `Content-Type` line follows; the rest is the
//! body. Any body gives the blobs to fetch or an error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rko::{Platform, Reference};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (header_type, body) = if flags & 0x8 != 0 {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let header = String::from_utf8_lossy(&rest[..end]).into_owned();
        (Some(header), rest.get(end + 1..).unwrap_or_default())
    } else {
        (None, rest)
    };
    let platforms: Vec<Platform> = match (flags >> 1) & 0x3 {
        0 => vec![],
        1 => vec![Platform::new("linux", "amd64", None)],
        2 => vec![Platform::new("linux", "arm64", Some("v8"))],
        _ => vec![
            Platform::new("linux", "arm", Some("v7")),
            Platform::new("windows", "amd64", None),
        ],
    };
    let reference: Reference = "registry.example/app:v1".parse().unwrap();
    let shallow = flags & 1 != 0;
    if let Ok(blobs) =
        rko::fuzzing::pulled_manifest(&reference, header_type, body.to_vec(), &platforms, shallow)
    {
        let blobs: Vec<&String> = blobs.iter().filter(|b| b.starts_with("blob ")).collect();
        let mut once = blobs.clone();
        once.sort();
        once.dedup();
        assert_eq!(
            once.len(),
            blobs.len(),
            "a blob is fetched twice: {blobs:?}"
        );
    }
});

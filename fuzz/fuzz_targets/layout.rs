//! An OCI image layout used as a base (`--base`, a pulled base image): the
//! input is `index.json` and blobs, separated by lines `--`; the first
//! byte chooses the platform asked for. In a document, `@dN` is replaced
//! by the digest of blob N and `@sN` by its size (for N after the
//! document's own number, N 1 to 9), so that descriptors can point at
//! blobs that are there. Reading it gives an error or a base, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rko::Platform;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut documents: Vec<String> = text.split("\n--\n").map(str::to_string).collect();
    if documents.len() > 10 {
        return;
    }
    // Blob N is final once every blob after it is, so fill in from the end.
    let mut names: Vec<Option<(String, usize)>> = vec![None; documents.len()];
    for i in (0..documents.len()).rev() {
        for (n, name) in names.iter().enumerate().skip(i + 1) {
            if let Some((digest, size)) = name {
                documents[i] = documents[i]
                    .replace(&format!("@d{n}"), digest)
                    .replace(&format!("@s{n}"), &size.to_string());
            }
        }
        if i > 0 {
            let digest = rko::fuzzing::sha256(documents[i].as_bytes());
            names[i] = Some((digest, documents[i].len()));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(root.join("index.json"), &documents[0]).unwrap();
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for (document, name) in documents.iter().zip(&names).skip(1) {
        let (digest, _) = name.as_ref().unwrap();
        let hex = digest.strip_prefix("sha256:").unwrap();
        std::fs::write(blobs.join(hex), document).unwrap();
    }
    let platform = match choice % 4 {
        0 => None,
        1 => Some(Platform::new("linux", "amd64", None)),
        2 => Some(Platform::new("linux", "arm64", Some("v8"))),
        _ => Some(Platform::new("linux", "arm", Some("v7"))),
    };
    let _ = rko::fuzzing::read_layout(root, platform.as_ref());
});

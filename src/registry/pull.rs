//! `pull`: an image or index from a registry into an OCI image layout, every
//! blob verified while it streams; `--shallow` keeps only manifests and
//! configs and records where the layers are.

use crate::error::{Error, Result};
use crate::image::layout::{self, LayoutWriter};
use crate::image::media_types;
use crate::image::platform::Platform;
use crate::registry::client::{Client, RegistryOptions};
use crate::registry::manifests;
use crate::registry::Reference;
use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageIndexBuilder, ImageManifest};
use std::io::BufWriter;
use std::path::Path;

/// What to pull and how.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub reference: Reference,
    /// Platforms to keep from an index; empty keeps all.
    pub platforms: Vec<Platform>,
    /// Manifests and configs only.
    pub shallow: bool,
    pub registry: RegistryOptions,
    pub jobs: usize,
}

/// What was pulled.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The digest `index.json` points at.
    pub digest: Digest,
    pub requests: u64,
}

/// The digest a tag currently points at (one manifest GET).
pub fn resolve(reference: &Reference, registry: &RegistryOptions) -> Result<Digest> {
    if let Some(digest) = &reference.digest {
        return Ok(digest.clone());
    }
    let client = Client::connect(&reference.registry, registry)?;
    let scopes = [format!("repository:{}:pull", reference.repository)];
    Ok(manifests::get(
        &client,
        &reference.repository,
        &reference.identifier(),
        &scopes,
    )?
    .digest)
}

/// Pulls into a new layout at `out`.
pub fn pull(options: &PullOptions, out: &Path) -> Result<Pulled> {
    let reference = &options.reference;
    let client = Client::connect(&reference.registry, &options.registry)?;
    let scopes = [format!("repository:{}:pull", reference.repository)];
    let repository = &reference.repository;
    let root = manifests::get(&client, repository, &reference.identifier(), &scopes)?;
    let mut writer = LayoutWriter::create(out)?;
    let (top, images) = match read_root(&root, &options.platforms, reference)? {
        Root::Image(manifest) => {
            writer.add_bytes(&root.bytes)?;
            (descriptor_of(&root), vec![*manifest])
        }
        Root::Index(selected) => {
            let mut images = Vec::new();
            for fetched in fetch_children(&client, options, &selected, &scopes)? {
                writer.add_bytes(&fetched.bytes)?;
                images.push(read_manifest(&fetched.bytes, reference)?);
            }
            let top = index_top(&mut writer, &root, &selected, options.platforms.len())?;
            (top, images)
        }
    };
    for image in &images {
        check_config_size(image, reference)?;
    }
    let blobs = blobs_of(&images, options.shallow);
    download_all(
        &client,
        repository,
        &blobs,
        &mut writer,
        &scopes,
        options.jobs,
    )?;

    if images.len() == 1 && !options.platforms.is_empty() {
        check_platform(&writer, &images[0], &options.platforms, reference)?;
    }
    let digest = top.digest().clone();
    let source = reference.repository_name();
    let top = layout::with_blob_source(top, Some(&source));
    let tag = reference
        .tag
        .clone()
        .unwrap_or_else(|| "latest".to_string());
    writer.finish(vec![layout::with_ref_name(top, &tag)])?;
    Ok(Pulled {
        digest,
        requests: client.requests(),
    })
}

/// What the manifest a reference names holds, for pull.
pub(crate) enum Root {
    Image(Box<ImageManifest>),
    /// An index's entries for the asked platforms (all, when none are asked).
    Index(Vec<Descriptor>),
}

/// Reads the manifest `reference` names: an image, or an index narrowed to
/// `platforms`. Whatever the registry sent, a value or an error, never a panic.
pub(crate) fn read_root(
    root: &manifests::Fetched,
    platforms: &[Platform],
    reference: &Reference,
) -> Result<Root> {
    if !media_types::is_index(&root.media_type) {
        return read_manifest(&root.bytes, reference).map(|m| Root::Image(Box::new(m)));
    }
    let index: ImageIndex = crate::json::parse(
        &root.bytes,
        Path::new(&reference.to_string()),
        "image index",
    )?;
    select(&index, platforms, reference).map(Root::Index)
}

fn read_manifest(bytes: &[u8], reference: &Reference) -> Result<ImageManifest> {
    crate::json::parse(bytes, Path::new(&reference.to_string()), "image manifest")
}

fn descriptor_of(fetched: &manifests::Fetched) -> Descriptor {
    Descriptor::new(
        fetched.media_type.clone(),
        fetched.bytes.len() as u64,
        fetched.digest.clone(),
    )
}

/// What the layout's `index.json` points at for a pulled index: the index
/// itself when every platform was asked for, the one image when one
/// platform was, else a new, smaller index of the `selected` entries.
fn index_top(
    writer: &mut LayoutWriter,
    root: &manifests::Fetched,
    selected: &[Descriptor],
    platforms: usize,
) -> Result<Descriptor> {
    match (platforms, selected.len()) {
        (0, _) => {
            writer.add_bytes(&root.bytes)?;
            Ok(descriptor_of(root))
        }
        (1, 1) => Ok(selected[0].clone()),
        _ => {
            let narrowed = ImageIndexBuilder::default()
                .schema_version(2u32)
                .media_type(root.media_type.clone())
                .manifests(selected.to_vec())
                .build()
                .expect("every required index field is set");
            let bytes = crate::json::to_canonical_vec(&narrowed);
            let (digest, size) = writer.add_bytes(&bytes)?;
            Ok(Descriptor::new(root.media_type.clone(), size, digest))
        }
    }
}

/// Refuses an image whose config is too large to read, before a byte of
/// it is fetched; a registry announcing a small one and sending more is
/// cut off at the size announced (see [`manifests::get_blob`]).
fn check_config_size(image: &ImageManifest, reference: &Reference) -> Result<()> {
    match layout::too_big_to_read(image.config()) {
        Some(refused) => Err(Error::reference(reference, refused)),
        None => Ok(()),
    }
}

/// The blobs `images` need (configs; layers unless `shallow`), each once,
/// in digest order.
pub(crate) fn blobs_of(images: &[ImageManifest], shallow: bool) -> Vec<(Digest, u64)> {
    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    for manifest in images {
        let config = manifest.config();
        blobs.push((config.digest().clone(), config.size()));
        if !shallow {
            blobs.extend(
                manifest
                    .layers()
                    .iter()
                    .map(|l| (l.digest().clone(), l.size())),
            );
        }
    }
    blobs.sort_by_key(|(digest, _)| digest.to_string());
    blobs.dedup();
    blobs
}

/// The manifests `entries` name, each fetched once however often it is
/// named, on `options.jobs` threads; in the order first named.
fn fetch_children(
    client: &Client,
    options: &PullOptions,
    entries: &[Descriptor],
    scopes: &[String],
) -> Result<Vec<manifests::Fetched>> {
    let mut seen = std::collections::HashSet::new();
    let digests: Vec<&Digest> = entries
        .iter()
        .map(Descriptor::digest)
        .filter(|digest| seen.insert(digest.to_string()))
        .collect();
    let repository = &options.reference.repository;
    crate::parallel::try_map(&digests, options.jobs, |digest| {
        manifests::get(client, repository, digest.as_ref(), scopes)
    })
}

/// The index entries for the asked platforms (all image entries when none).
fn select(
    index: &ImageIndex,
    platforms: &[Platform],
    reference: &Reference,
) -> Result<Vec<Descriptor>> {
    let entries: Vec<&Descriptor> = index.manifests().iter().collect();
    for entry in &entries {
        if media_types::is_index(entry.media_type()) {
            return Err(Error::reference(
                reference,
                "nested image indexes are not supported",
            ));
        }
    }
    if platforms.is_empty() {
        return Ok(entries.into_iter().cloned().collect());
    }
    let mut selected = Vec::new();
    for want in platforms {
        let found = entries.iter().find(|d| {
            d.platform()
                .as_ref()
                .is_some_and(|p| want.matches(&Platform::from_oci(p)))
        });
        match found {
            Some(d) if !selected.contains(*d) => selected.push((*d).clone()),
            Some(_) => {}
            None => {
                let available: Vec<String> = entries
                    .iter()
                    .filter_map(|d| {
                        d.platform()
                            .as_ref()
                            .map(|p| Platform::from_oci(p).to_string())
                    })
                    .collect();
                return Err(Error::reference(
                    reference,
                    format!(
                        "has no image for platform {want} (it has: {})",
                        available.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(selected)
}

/// A single image pulled for a platform must be for that platform.
fn check_platform(
    writer: &LayoutWriter,
    image: &ImageManifest,
    platforms: &[Platform],
    reference: &Reference,
) -> Result<()> {
    let config_path = writer.target(image.config().digest());
    let config: serde_json::Value = crate::json::read_file(&config_path, "image config")?;
    let field = |name: &str| config[name].as_str().unwrap_or("").to_string();
    let platform = Platform::new(
        &field("os"),
        &field("architecture"),
        Some(&field("variant")),
    );
    if platforms.iter().any(|want| want.matches(&platform)) {
        Ok(())
    } else {
        Err(Error::reference(
            reference,
            format!("is an image for {platform}, not {}", platforms[0]),
        ))
    }
}

/// Downloads blobs on `jobs` threads into the staged layout.
fn download_all(
    client: &Client,
    repository: &str,
    blobs: &[(Digest, u64)],
    writer: &mut LayoutWriter,
    scopes: &[String],
    jobs: usize,
) -> Result<()> {
    let targets: Vec<_> = blobs
        .iter()
        .map(|(digest, size)| (digest.clone(), *size, writer.target(digest)))
        .collect();
    crate::parallel::try_map(&targets, jobs, |(digest, size, target)| {
        download(client, repository, digest, *size, target, scopes)
    })?;
    for (digest, _) in blobs {
        writer.mark(digest);
    }
    Ok(())
}

/// Downloads one verified blob to `target`, starting over when the
/// transfer breaks or does not match its digest.
pub(crate) fn download(
    client: &Client,
    repository: &str,
    digest: &Digest,
    size: u64,
    target: &Path,
    scopes: &[String],
) -> Result<()> {
    client.restarting(|| {
        let file = std::fs::File::create(target).map_err(|e| Error::io("creating", target, e))?;
        let mut out = BufWriter::new(file);
        let result =
            manifests::get_blob(client, repository, digest, size, &mut out, target, scopes)
                .and_then(|()| {
                    out.into_inner()
                        .map(drop)
                        .map_err(|e| Error::io("writing", target, e.into_error()))
                });
        if result.is_err() {
            // Never leave unverified bytes under a digest's name.
            let _ = std::fs::remove_file(target);
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    const MEDIA_TYPES: [&str; 7] = [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "text/plain",
    ];

    /// Any JSON, leaning on the keys and values manifests and indexes have.
    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            prop::sample::select(vec![
                "schemaVersion",
                "mediaType",
                "config",
                "layers",
                "manifests",
                "digest",
                "size",
                "platform",
                "architecture",
                "os",
                "variant",
                "annotations",
            ])
            .prop_map(String::from),
            "[a-zA-Z.]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            prop::sample::select(MEDIA_TYPES.to_vec()).prop_map(Value::from),
            prop::sample::select(vec!["sha256:abc", "sha512:00", "", "linux", "arm", "v7"])
                .prop_map(Value::from),
            "\\PC{0,24}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    /// Mostly `valid`, sometimes any JSON at all.
    fn mostly(valid: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
        prop_oneof![30 => valid, 1 => json_value()]
    }

    /// A descriptor whose every field is likely right but may be wrong.
    fn descriptor() -> impl Strategy<Value = Value> {
        let media_type = mostly(prop::sample::select(MEDIA_TYPES.to_vec()).prop_map(Value::from));
        let digest = mostly("[0-9a-f]{64}".prop_map(|hex| Value::from(format!("sha256:{hex}"))));
        let size = mostly(any::<u64>().prop_map(Value::from));
        let name = || {
            mostly(
                prop::sample::select(vec!["linux", "amd64", "arm", "v7", "", "windows"])
                    .prop_map(Value::from),
            )
        };
        let platform = prop_oneof![
            1 => Just(Value::Null),
            6 => (name(), name(), name()).prop_map(|(a, o, v)| json!({"architecture": a, "os": o, "variant": v})),
            1 => json_value(),
        ];
        (media_type, digest, size, platform).prop_map(|(media_type, digest, size, platform)| {
            json!({"mediaType": media_type, "digest": digest, "size": size, "platform": platform})
        })
    }

    /// Manifests and indexes, nearly right and not.
    fn manifest_like() -> impl Strategy<Value = Value> {
        let version = || mostly(Just(json!(2)));
        let media_type =
            || mostly(prop::sample::select(MEDIA_TYPES[..4].to_vec()).prop_map(Value::from));
        let descriptors = || prop::collection::vec(descriptor(), 0..5);
        prop_oneof![
            4 => (version(), media_type(), descriptor(), descriptors()).prop_map(
                |(v, t, config, layers)| json!({"schemaVersion": v, "mediaType": t, "config": config, "layers": layers})
            ),
            4 => (version(), media_type(), descriptors()).prop_map(
                |(v, t, manifests)| json!({"schemaVersion": v, "mediaType": t, "manifests": manifests})
            ),
            1 => json_value(),
        ]
    }

    /// What pull does with a manifest's bytes before the next request.
    fn read_as_pull_does(bytes: Vec<u8>, header_type: Option<String>) {
        let reference: Reference = "reg.io/app:v1".parse().unwrap();
        let url = "https://reg.io/v2/app/manifests/v1";
        let Ok(root) = manifests::decode(url, "v1", header_type, bytes) else {
            return;
        };
        for platforms in [
            vec![],
            vec!["linux/amd64"],
            vec!["linux/arm/v7", "linux/amd64"],
        ] {
            let platforms: Vec<Platform> = platforms.iter().map(|p| p.parse().unwrap()).collect();
            match read_root(&root, &platforms, &reference) {
                Ok(Root::Image(manifest)) => drop(blobs_of(&[*manifest], false)),
                Ok(Root::Index(selected)) => drop(index_top_digests(&selected)),
                Err(e) => drop(e.to_string()),
            }
        }
    }

    fn index_top_digests(selected: &[Descriptor]) -> Vec<String> {
        selected.iter().map(|d| d.digest().to_string()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn pull_reads_any_bytes_without_panicking(
            bytes in prop::collection::vec(any::<u8>(), 0..256),
            header in prop::option::of(prop::sample::select(MEDIA_TYPES.to_vec())),
        ) {
            read_as_pull_does(bytes, header.map(String::from));
        }

        #[test]
        fn pull_reads_any_manifest_like_json_without_panicking(
            value in manifest_like(),
            header in prop::option::of(prop::sample::select(MEDIA_TYPES.to_vec())),
        ) {
            read_as_pull_does(serde_json::to_vec(&value).unwrap(), header.map(String::from));
        }
    }

    #[test]
    fn a_well_formed_index_and_manifest_are_read() {
        let hex = "0".repeat(64);
        let image = json!({
            "schemaVersion": 2, "mediaType": MEDIA_TYPES[1],
            "config": {"mediaType": MEDIA_TYPES[4], "digest": format!("sha256:{hex}"), "size": 2},
            "layers": [{"mediaType": MEDIA_TYPES[5], "digest": format!("sha256:{hex}"), "size": 2}],
        });
        let root = manifests::decode("u", "v1", None, serde_json::to_vec(&image).unwrap()).unwrap();
        let reference: Reference = "reg.io/app:v1".parse().unwrap();
        let Ok(Root::Image(manifest)) = read_root(&root, &[], &reference) else {
            panic!("an image");
        };
        assert_eq!(
            blobs_of(&[*manifest], false).len(),
            1,
            "config and layer are one blob"
        );
        let index = json!({"schemaVersion": 2, "mediaType": MEDIA_TYPES[0], "manifests": [
            {"mediaType": MEDIA_TYPES[1], "digest": format!("sha256:{hex}"), "size": 9,
             "platform": {"architecture": "amd64", "os": "linux"}}]});
        let root = manifests::decode("u", "v1", None, serde_json::to_vec(&index).unwrap()).unwrap();
        let Ok(Root::Index(selected)) =
            read_root(&root, &["linux/amd64".parse().unwrap()], &reference)
        else {
            panic!("an index");
        };
        assert_eq!(selected.len(), 1);
    }
}

//! `rko resolve-yaml`: the plumbing step that replaces `ko://` references
//! in YAML with the references a map gives, touching nothing else.

use rko::{Error, Reference, Result, YamlInput as Input, KO_PREFIX as PREFIX};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Replace every `ko://IMPORTPATH` string in YAML files with the reference
/// the images map gives for it; every other byte stays as written.
///
/// A reference missing from the map is left as it is with a warning, or,
/// with --strict, is an error listing every missing one.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A YAML file (repeatable); their documents are joined in order.
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// JSON object: import path (with or without ko://) to a full reference.
    #[arg(
        long,
        value_name = "MAP.json",
        required_unless_present = "image_digests"
    )]
    images: Option<PathBuf>,
    /// One import path's image as NAME plus the digest in FILE (as Bazel
    /// writes them): IMPORTPATH=NAME=FILE, repeatable.
    #[arg(long = "image-digest", value_name = "IMPORTPATH=NAME=FILE")]
    image_digests: Vec<String>,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Fail when a reference is missing from the map.
    #[arg(long)]
    strict: bool,
}

pub fn run(args: Args) -> Result<()> {
    let mut map: BTreeMap<String, String> = match &args.images {
        Some(images) => {
            let text =
                std::fs::read_to_string(images).map_err(|e| Error::io("reading", images, e))?;
            serde_json::from_str(&text).map_err(|e| {
                Error::file(
                    images,
                    format!("expected a JSON object of import path to reference: {e}"),
                )
            })?
        }
        None => BTreeMap::new(),
    };
    for value in &args.image_digests {
        let mut parts = value.splitn(3, '=');
        let (Some(import_path), Some(name), Some(file)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::invalid(format!(
                "--image-digest {value:?}: expected IMPORTPATH=NAME=FILE"
            )));
        };
        let digest = std::fs::read_to_string(file).map_err(|e| Error::io("reading", file, e))?;
        let digest = rko::parse_digest(digest.trim())?;
        map.insert(import_path.to_string(), format!("{name}@{digest}"));
    }
    let map: BTreeMap<String, String> = map
        .into_iter()
        .map(|(k, v)| (k.strip_prefix(PREFIX).unwrap_or(&k).to_string(), v))
        .collect();
    let source = args.images.as_ref().map_or_else(
        || "the --image-digest list".to_string(),
        |p| p.display().to_string(),
    );
    // Whatever the map says is written into the YAML: only references may be.
    for (import_path, value) in &map {
        value
            .parse::<Reference>()
            .map_err(|e| Error::invalid(format!("{source}: the image for {import_path}: {e}")))?;
    }
    let mut inputs = Vec::new();
    for file in &args.files {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io("reading", file, e))?;
        inputs.push(Input {
            name: file.display().to_string(),
            text,
        });
    }
    let prepared = rko::prepare_yaml(inputs, None)?;
    report_missing(&prepared.missing(&map), args.strict, &source)?;
    match &args.out {
        Some(path) => {
            let mut file = rko::AtomicFile::create(path)?;
            let mut writer = std::io::BufWriter::new(file.file());
            prepared
                .write(&map, &mut writer)
                .and_then(|()| std::io::Write::flush(&mut writer))
                .map_err(|e| Error::io("writing", path, e))?;
            drop(writer);
            file.commit()
        }
        None => {
            let mut writer = super::stdout::writer();
            super::stdout::finish(
                prepared
                    .write(&map, &mut writer)
                    .and_then(|()| std::io::Write::flush(&mut writer)),
            )
        }
    }
}

/// Warns about, or (strict) fails on, references with no image.
pub fn report_missing(missing: &[String], strict: bool, source: &str) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing
        .iter()
        .map(|m| format!("{PREFIX}{m}"))
        .collect::<Vec<_>>()
        .join(", ");
    if strict {
        return Err(Error::invalid(format!("{source} has no image for: {list}")));
    }
    log::warn!("{source} has no image for {list}; left as written");
    Ok(())
}

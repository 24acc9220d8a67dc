//! `rko append`: layers on a base, written as an OCI image layout.

use super::{key_values, split_pair, Results};
use rko::{AppendOptions, BaseSpec, ConfigEdits, History, LayerInput, Platform, Result};
use std::path::PathBuf;

/// Put layers on a base image and write an OCI image layout.
///
/// Prints the manifest digest.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An OCI layout directory, `scratch`, or `builtin:static` (rko's
    /// embedded minimal root: passwd, group, CA certificates, /tmp).
    #[arg(long, value_name = "LAYOUT|scratch|builtin:static")]
    base: String,
    /// Recorded as the org.opencontainers.image.base.name annotation
    /// [default: `builtin:static` on that base, as `rko build` records it;
    /// none on another].
    #[arg(long, value_name = "REF")]
    base_name: Option<String>,
    /// OS/ARCH[/VARIANT]; picks the image from a base index [default:
    /// the base's own platform, else linux/amd64].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// A layer to add, in order: its blob and the descriptor assemble-layer wrote.
    #[arg(long = "layer", value_name = "BLOB=DESC.json")]
    layers: Vec<String>,
    /// A layer to add, in order, known by its descriptor alone: the layout
    /// written is sparse (manifest and config as with --layer, no layer
    /// blob), and `rko push` takes the blobs from elsewhere.
    #[arg(
        long = "layer-descriptor",
        value_name = "DESC.json",
        conflicts_with = "layers"
    )]
    layer_descriptors: Vec<PathBuf>,
    /// Set an environment variable in the image config.
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// A file of K=V lines, applied before --env.
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
    /// Set an image config label.
    #[arg(long = "label", value_name = "K=V")]
    labels: Vec<String>,
    /// A file of K=V label lines, applied before --label.
    #[arg(long, value_name = "FILE")]
    labels_file: Option<PathBuf>,
    /// Add a manifest annotation.
    #[arg(long = "annotation", value_name = "K=V")]
    annotations: Vec<String>,
    /// A file of K=V annotation lines, applied before --annotation.
    #[arg(long, value_name = "FILE")]
    annotations_file: Option<PathBuf>,
    /// The user the container runs as.
    #[arg(long)]
    user: Option<String>,
    /// The container's working directory.
    #[arg(long)]
    workdir: Option<String>,
    /// One element of the entrypoint; repeat for more.
    #[arg(long = "entrypoint", value_name = "ARG", allow_hyphen_values = true)]
    entrypoint: Vec<String>,
    /// One element of the command; repeat for more.
    #[arg(long = "cmd", value_name = "ARG", allow_hyphen_values = true)]
    cmd: Vec<String>,
    /// ko's conventions for /ko-app/NAME: entrypoint, Cmd cleared,
    /// :/ko-app appended to PATH, KO_DATA_PATH=/var/run/ko.
    #[arg(long, value_name = "NAME")]
    ko_app: Option<String>,
    /// Creation time, in seconds since the epoch.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    created: u64,
    /// The config's author.
    #[arg(long, value_name = "TEXT")]
    author: Option<String>,
    /// The config history entries of the new layers: a JSON array, one
    /// object per --layer in order, with any of "author", "created_by",
    /// "comment" (strings) and "created" (seconds; default --created)
    /// [default: created_by "rko append", comment "layer DIGEST"].
    #[arg(long, value_name = "FILE.json")]
    history_file: Option<PathBuf>,
    /// The image's name in the layout's index.json.
    #[arg(long, default_value = "latest")]
    tag: String,
    /// Where to write the OCI image layout (a directory).
    #[arg(long, value_name = "LAYOUT")]
    out: PathBuf,
    /// Also write the manifest digest to this file.
    #[arg(long, value_name = "FILE")]
    digest_file: Option<PathBuf>,
    /// The Go binary one of the layers holds: refuse it, writing nothing,
    /// when its Go build information says another GOOS/GOARCH (GOARM,
    /// GOAMD64 for a variant) than --platform.
    #[arg(long, value_name = "FILE", requires = "platform")]
    binary: Option<PathBuf>,
}

pub fn run(args: Args, results: Results) -> Result<()> {
    if let Some(file) = &args.digest_file {
        rko::check_file_target(file)?;
    }
    let mut layers = Vec::new();
    for value in &args.layers {
        let (blob, descriptor) = split_pair("--layer", value, "BLOB=DESC.json")?;
        layers.push(LayerInput::read(blob.as_ref(), descriptor.as_ref())?);
    }
    for descriptor in &args.layer_descriptors {
        layers.push(LayerInput::descriptor_only(descriptor)?);
    }
    let edits = ConfigEdits {
        env: key_values("--env", &args.env, "--env-file", args.env_file.as_deref())?,
        labels: key_values(
            "--label",
            &args.labels,
            "--labels-file",
            args.labels_file.as_deref(),
        )?,
        user: args.user,
        workdir: args.workdir,
        entrypoint: (!args.entrypoint.is_empty()).then_some(args.entrypoint),
        cmd: (!args.cmd.is_empty()).then_some(args.cmd),
        ko_app: args.ko_app,
        created: args.created,
        author: args.author,
        history: match &args.history_file {
            Some(path) => History::read_file(path, layers.len())?,
            None => Vec::new(),
        },
    };
    let options = AppendOptions {
        base: BaseSpec::parse(&args.base)?,
        base_name: args
            .base_name
            .or_else(|| (args.base == "builtin:static").then(|| args.base.clone())),
        platform: args
            .platform
            .as_deref()
            .map(str::parse::<Platform>)
            .transpose()?,
        layers,
        edits,
        annotations: key_values(
            "--annotation",
            &args.annotations,
            "--annotations-file",
            args.annotations_file.as_deref(),
        )?,
        tag: args.tag,
    };
    if let (Some(binary), Some(platform)) = (&args.binary, &options.platform) {
        let info = rko::read_build_info(binary)?;
        rko::check_binary_platform(binary, &info.settings, platform)?;
    }
    let digest = rko::append(&options, &args.out)?;
    results.digest(args.digest_file.as_deref(), digest.as_ref(), &digest)
}

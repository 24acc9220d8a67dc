//! `rko assemble-layer`: files, trees, symlinks and directories into one layer blob.

use super::{jobs, split_pair, Results};
use rko::{
    CompressOptions, Compression, Defaults, EntrySpec, Error, LayerOptions, LayerOutputs, Result,
    Source,
};
use std::path::PathBuf;

/// Build one layer blob and its descriptor (mediaType, digest, size, diffID).
///
/// Entries are written in sorted path order with a directory entry for every
/// parent; the output depends only on the entries' content, never on
/// paths, umask, filesystem order or --jobs. Prints the layer digest.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Add a regular file: SRC=DEST (DEST is a path inside the image).
    #[arg(long = "file", value_name = "SRC=DEST")]
    files: Vec<String>,
    /// Add a directory tree recursively: SRC=DEST. Symlinks inside are
    /// followed and must resolve inside --allow-root.
    #[arg(long = "tree", value_name = "SRC=DEST")]
    trees: Vec<String>,
    /// Add a symbolic link: DEST=TARGET.
    #[arg(long = "symlink", value_name = "DEST=TARGET")]
    symlinks: Vec<String>,
    /// Add an (empty) directory.
    #[arg(long = "dir", value_name = "DEST")]
    dirs: Vec<String>,
    /// Mode of every file, in octal (ko uses 0555).
    #[arg(long, value_name = "OCTAL", default_value = "0555")]
    mode: String,
    /// Mode of every directory, in octal.
    #[arg(long, value_name = "OCTAL", default_value = "0555")]
    dir_mode: String,
    /// Symlinks met in a --tree must resolve inside this directory
    /// [default: the tree itself].
    #[arg(long, value_name = "DIR")]
    allow_root: Option<PathBuf>,
    /// Modification time of every entry, in seconds since the epoch.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    mtime: u64,
    /// Owner of every entry.
    #[arg(long, default_value_t = 0)]
    uid: u64,
    /// Group of every entry.
    #[arg(long, default_value_t = 0)]
    gid: u64,
    /// gzip, zstd or none.
    #[arg(long, default_value = "gzip")]
    compression: String,
    /// Compression level [default: 2 for gzip, 3 for zstd].
    #[arg(long)]
    level: Option<u32>,
    /// Lay the layer out for a Windows image, as ko does: every entry under
    /// Files/, an empty Hives/, and on every file the security descriptor
    /// (PAX record MSWINDOWS.rawsd) Windows needs to execute it.
    #[arg(long)]
    windows: bool,
    /// ko's binary layer of the Go binary SRC, as ko v0.19.1 writes it
    /// (`ko-app`, then `/ko-app/NAME`, times 0): the same diffID as ko's.
    /// Takes no other entries; --mtime, modes and owners do not apply.
    #[arg(long, value_name = "SRC=NAME", conflicts_with_all = ["files", "trees", "symlinks", "dirs", "ko_data", "ko_data_files"])]
    ko_app: Option<String>,
    /// ko's kodata layer, as ko v0.19.1 writes it, dated --mtime: of the
    /// directory DIR (which may be missing), or without DIR of the
    /// --ko-data-file entries; with neither, /var/run/ko alone, as ko adds
    /// to an image without kodata. Symlinks in DIR are followed and must
    /// stay inside it (or --allow-root).
    #[arg(long, value_name = "DIR", num_args = 0..=1, conflicts_with_all = ["files", "trees", "symlinks", "dirs"])]
    ko_data: Option<Option<PathBuf>>,
    /// A file of ko's kodata layer (with --ko-data and no DIR): SRC at PATH
    /// inside kodata/; repeat for each.
    #[arg(long = "ko-data-file", value_name = "SRC=PATH", requires = "ko_data")]
    ko_data_files: Vec<String>,
    /// Compression threads [default: all cores]. Never changes the output.
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Where to write the layer blob.
    #[arg(long, value_name = "BLOB")]
    out: PathBuf,
    /// Where to write the descriptor JSON.
    #[arg(long, value_name = "DESC.json")]
    descriptor: PathBuf,
    /// Where to write the layer's listing: every entry, in tar order, with
    /// its type, mode, owner, size and link target (what `check-image`
    /// reads instead of the blob).
    #[arg(long, value_name = "LISTING.json")]
    listing: Option<PathBuf>,
}

impl Args {
    fn outputs(&self) -> LayerOutputs<'_> {
        LayerOutputs {
            blob: &self.out,
            descriptor: &self.descriptor,
            listing: self.listing.as_deref(),
        }
    }
}

pub fn run(args: Args, results: Results) -> Result<()> {
    if let Some(descriptor) = ko_layer(&args)? {
        return results.print(&descriptor.digest, true);
    }
    let mut specs = Vec::new();
    for value in &args.files {
        let (src, dest) = split_pair("--file", value, "SRC=DEST")?;
        specs.push(EntrySpec::File {
            source: Source::Path(src.into()),
            dest: dest.to_string(),
            mode: None,
            pax: Default::default(),
        });
    }
    for value in &args.trees {
        let (src, dest) = split_pair("--tree", value, "SRC=DEST")?;
        specs.push(EntrySpec::Tree {
            source: src.into(),
            dest: dest.to_string(),
        });
    }
    for value in &args.symlinks {
        let (dest, target) = split_pair("--symlink", value, "DEST=TARGET")?;
        specs.push(EntrySpec::Symlink {
            dest: dest.to_string(),
            target: target.to_string(),
        });
    }
    for dest in &args.dirs {
        specs.push(EntrySpec::Dir {
            dest: dest.clone(),
            mode: None,
        });
    }
    if specs.is_empty() {
        return Err(Error::invalid(
            "nothing to put in the layer: give --file, --tree, --symlink or --dir",
        ));
    }
    let options = LayerOptions {
        defaults: Defaults {
            file_mode: octal("--mode", &args.mode)?,
            dir_mode: octal("--dir-mode", &args.dir_mode)?,
            uid: args.uid,
            gid: args.gid,
            allow_root: args.allow_root.clone(),
        },
        mtime: args.mtime,
        compress: CompressOptions {
            compression: args.compression.parse::<Compression>()?,
            level: args.level,
            jobs: jobs(args.jobs),
        },
        windows: args.windows,
    };
    let descriptor = rko::assemble_layer(&specs, &options, args.outputs())?;
    // The descriptor file holds the digest too.
    results.print(&descriptor.digest, true)
}

/// One of ko's own layers, when --ko-app, --ko-data or --ko-data-file ask for it.
fn ko_layer(args: &Args) -> Result<Option<rko::LayerDescriptor>> {
    let compress = CompressOptions {
        compression: args.compression.parse::<Compression>()?,
        level: args.level,
        jobs: jobs(args.jobs),
    };
    let (entries, mtime) = if let Some(value) = &args.ko_app {
        let (src, name) = split_pair("--ko-app", value, "SRC=NAME")?;
        let pax = Default::default();
        (
            rko::ko_layer::binary_entries(src.as_ref(), name, args.windows, pax)?,
            0,
        )
    } else if let Some(Some(dir)) = &args.ko_data {
        if !args.ko_data_files.is_empty() {
            return Err(Error::invalid(
                "--ko-data DIR and --ko-data-file: give one or the other",
            ));
        }
        let root = args
            .allow_root
            .as_ref()
            .map(|r| r.canonicalize().unwrap_or(r.clone()));
        (
            rko::ko_layer::kodata_entries(dir, root.as_deref(), args.windows)?,
            args.mtime,
        )
    } else if args.ko_data.is_some() {
        let files = args
            .ko_data_files
            .iter()
            .map(|v| {
                split_pair("--ko-data-file", v, "SRC=PATH").map(|(s, d)| (s.into(), d.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        (
            rko::ko_layer::kodata_entries_from_files(&files, args.windows)?,
            args.mtime,
        )
    } else {
        return Ok(None);
    };
    rko::assemble_ko_layer(entries, mtime, compress, args.outputs()).map(Some)
}

fn octal(flag: &str, value: &str) -> Result<u32> {
    u32::from_str_radix(value, 8)
        .ok()
        .filter(|&mode| mode <= 0o7777)
        .ok_or_else(|| {
            Error::invalid(format!(
                "{flag} {value:?} is not an octal file mode such as 0555"
            ))
        })
}

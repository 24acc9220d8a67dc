//! `rko name`: the image name `rko build` gives an import path, so that a
//! build system names images as rko does (Bazel's ko_resolve asks this).

use super::split_pair;
use super::stdout;
use rko::{image_name, Error, Naming, Result, KO_PREFIX};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Print the image name `rko build` gives each import path under a
/// repository (KO_DOCKER_REPO), one per line; with --out, write an images
/// map for `resolve-yaml --images` instead.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Import paths (a `ko://` prefix is dropped).
    import_paths: Vec<String>,
    /// The repository the images go under, as KO_DOCKER_REPO.
    #[arg(long, value_name = "REPO")]
    repository: String,
    /// How to name them: rko build's default (<last element>-<md5 of the
    /// import path>), or as its -B, -P and --bare flags do.
    #[arg(long, value_enum, default_value = "default")]
    naming: NamingMode,
    /// An import path's image whose digest is in FILE (as Bazel writes it):
    /// IMPORTPATH=FILE, repeatable; goes into --out as NAME@DIGEST.
    #[arg(
        long = "image-digest",
        value_name = "IMPORTPATH=FILE",
        requires = "out"
    )]
    image_digests: Vec<String>,
    /// Write a JSON object, import path to NAME@DIGEST, here.
    #[arg(long, value_name = "MAP.json")]
    out: Option<PathBuf>,
}

/// `--naming`: one value per `rko build` naming flag.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum NamingMode {
    Default,
    BaseImportPaths,
    PreserveImportPaths,
    Bare,
}

impl From<NamingMode> for Naming {
    fn from(mode: NamingMode) -> Naming {
        match mode {
            NamingMode::Default => Naming::Default,
            NamingMode::BaseImportPaths => Naming::BaseImportPaths,
            NamingMode::PreserveImportPaths => Naming::PreserveImportPaths,
            NamingMode::Bare => Naming::Bare,
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let naming = Naming::from(args.naming);
    let name = |import_path: &str| {
        let import_path = import_path.strip_prefix(KO_PREFIX).unwrap_or(import_path);
        image_name(&args.repository, import_path, naming)
    };
    let Some(out) = &args.out else {
        for import_path in &args.import_paths {
            stdout::line(name(import_path))?;
        }
        return Ok(());
    };
    let mut map = BTreeMap::new();
    for value in &args.image_digests {
        let (import_path, file) = split_pair("--image-digest", value, "IMPORTPATH=FILE")?;
        let digest = std::fs::read_to_string(file).map_err(|e| Error::io("reading", file, e))?;
        let digest = rko::parse_digest(digest.trim())
            .map_err(|e| Error::file(file, format!("does not hold a digest: {e}")))?;
        let key = import_path.strip_prefix(KO_PREFIX).unwrap_or(import_path);
        map.insert(key.to_string(), format!("{}@{digest}", name(import_path)));
    }
    let mut text = serde_json::to_string_pretty(&map)
        .map_err(|e| Error::invalid(format!("writing {}: {e}", out.display())))?;
    text.push('\n');
    rko::write_file(out, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    /// Each --naming value is the naming of the rko build flag it is named after.
    #[test]
    fn naming_values_name_as_rko_build_flags_do() {
        let cases = [
            ("default", Naming::Default),
            ("base-import-paths", Naming::BaseImportPaths),
            ("preserve-import-paths", Naming::PreserveImportPaths),
            ("bare", Naming::Bare),
        ];
        for (value, want) in cases {
            let cli = Cli::try_parse_from(["name", "--repository=r", "--naming", value, "x/y"])
                .unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(Naming::from(cli.args.naming), want, "{value}");
        }
        let cli = Cli::try_parse_from(["name", "--repository=r", "x/y"]).unwrap();
        assert_eq!(Naming::from(cli.args.naming), Naming::Default);
    }

    #[test]
    fn an_image_digest_needs_out() {
        let err =
            Cli::try_parse_from(["name", "--repository=r", "--image-digest", "a/b=f"]).unwrap_err();
        assert!(err.to_string().contains("--out"), "{err}");
    }
}

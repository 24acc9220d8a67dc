//! Where `.ko.yaml` is found, as ko's `LoadConfig` finds it: the file or
//! directory `KO_CONFIG_PATH` names, which must be there, else viper's
//! search for `.ko.<ext>` in the working directory; viper takes the file's
//! type from its extension, and rko reads the YAML and JSON ones.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Where the configuration is read from, as ko's `LoadConfig` looks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `KO_CONFIG_PATH` (as given, and from the working directory): a
    /// file, or a directory holding `.ko.yaml`. It must exist.
    Named { given: String, path: PathBuf },
    /// `.ko.<ext>` in this directory (viper's search), if there is one.
    Search(PathBuf),
}

/// The extensions viper reads a config file by (its `SupportedExts`), in
/// the order it looks for `.ko.<ext>`.
const VIPER_EXTENSIONS: [&str; 12] = [
    "json",
    "toml",
    "yaml",
    "yml",
    "properties",
    "props",
    "prop",
    "hcl",
    "tfvars",
    "dotenv",
    "env",
    "ini",
];

/// The extensions rko reads (JSON is YAML).
const READ_EXTENSIONS: [&str; 3] = ["json", "yaml", "yml"];

impl ConfigSource {
    /// The file to read, if any: a `KO_CONFIG_PATH` that names nothing, a
    /// directory without `.ko.yaml`, something not a regular file or a
    /// file of a type viper does not read is an error, as in ko.
    pub fn find(&self) -> Result<Option<PathBuf>> {
        match self {
            ConfigSource::Named { given, path } => {
                let named = |e: String| Error::invalid(format!("KO_CONFIG_PATH={given:?}: {e}"));
                let looking = |path: &Path, e: std::io::Error| {
                    named(format!(
                        "error looking for config file: stat {}: {e}",
                        path.display()
                    ))
                };
                let meta = std::fs::metadata(path).map_err(|e| looking(path, e))?;
                let file = if meta.is_dir() {
                    let file = path.join(".ko.yaml");
                    let meta = std::fs::metadata(&file).map_err(|e| looking(&file, e))?;
                    if !meta.is_file() {
                        return Err(named(format!(
                            "config file {} is not a regular file",
                            file.display()
                        )));
                    }
                    file
                } else if meta.is_file() {
                    path.clone()
                } else {
                    return Err(named(format!(
                        "config file {} is not a regular file",
                        path.display()
                    )));
                };
                let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
                readable(&file, extension, named)?;
                Ok(Some(file))
            }
            ConfigSource::Search(dir) => {
                for extension in VIPER_EXTENSIONS {
                    let file = dir.join(format!(".ko.{extension}"));
                    if std::fs::metadata(&file).is_ok_and(|m| !m.is_dir()) {
                        readable(&file, extension, |why| Error::file(&file, why))?;
                        return Ok(Some(file));
                    }
                }
                Ok(None)
            }
        }
    }
}

/// Refuses a config file whose type (`extension`) rko does not read:
/// viper takes the type from the extension alone.
fn readable(file: &Path, extension: &str, error: impl Fn(String) -> Error) -> Result<()> {
    if READ_EXTENSIONS.contains(&extension) {
        return Ok(());
    }
    let why = if VIPER_EXTENSIONS.contains(&extension) {
        format!(
            "ko reads {} as {extension}; rko reads only YAML and JSON (.yaml, .yml, .json)",
            file.display()
        )
    } else {
        format!(
            "error reading config file: Unsupported Config Type {extension:?} \
             (the type comes from the extension: .yaml, .yml or .json)"
        )
    };
    Err(error(why))
}

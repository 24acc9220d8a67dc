//! What the porcelain reads of the environment it is given (the command
//! line passes the process's environment down as a value): where
//! `.ko.yaml` and `KOCACHE` are, `SOURCE_DATE_EPOCH`-like dates, which `go`.

use super::ko_yaml::ConfigSource;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The process environment, as the command line read it.
pub type Env = BTreeMap<String, String>;

/// A variable's value, when set and not empty (an empty variable counts as unset).
pub fn var<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    env.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// `KO_CONFIG_PATH` (a file, or a directory holding `.ko.yaml`), else
/// `.ko.yaml` (or another `.ko.<ext>` viper reads) in the working directory.
pub fn config_path(env: &Env, work_dir: &Path) -> ConfigSource {
    match var(env, "KO_CONFIG_PATH") {
        Some(path) => ConfigSource::Named {
            given: path.to_string(),
            path: work_dir.join(path),
        },
        None => ConfigSource::Search(work_dir.to_path_buf()),
    }
}

/// `KOCACHE`, else `$XDG_CACHE_HOME/rko`, else `~/.cache/rko`.
pub fn cache_dir(env: &Env) -> Result<PathBuf> {
    if let Some(dir) = var(env, "KOCACHE") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = var(env, "XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("rko"));
    }
    var(env, "HOME")
        .map(|home| PathBuf::from(home).join(".cache/rko"))
        .ok_or_else(|| Error::invalid("no cache directory: set KOCACHE or HOME"))
}

/// Seconds since the epoch from `name` (`SOURCE_DATE_EPOCH`,
/// `KO_DATA_DATE_EPOCH`), if set.
pub fn epoch(env: &Env, name: &str) -> Result<Option<u64>> {
    match var(env, name) {
        Some(value) => value.trim().parse().map(Some).map_err(|_| {
            Error::invalid(format!(
                "{name}={value:?} is not a number of seconds since the epoch"
            ))
        }),
        None => Ok(None),
    }
}

/// The `go` command: `KO_GO_PATH`, else `go`.
pub fn go_command(env: &Env) -> PathBuf {
    PathBuf::from(var(env, "KO_GO_PATH").unwrap_or("go"))
}

//! `go build` as ko drives it: `-trimpath`, the platform's
//! GOOS/GOARCH/GOARM/GOAMD64, one or more main packages into one directory.

use super::env::missing_go;
use crate::error::{Error, Result};
use crate::image::platform::Platform;
use std::path::PathBuf;
use std::process::Command;

/// One `go build` of one or more main packages that share their settings.
#[derive(Debug, Clone)]
pub struct GoBuild {
    pub go: PathBuf,
    /// Where `go build` runs.
    pub dir: PathBuf,
    pub import_paths: Vec<String>,
    pub platform: Platform,
    /// Extra environment (`CGO_ENABLED`, `.ko.yaml`'s env), applied in order.
    pub env: Vec<(String, String)>,
    pub flags: Vec<String>,
    pub ldflags: Vec<String>,
    pub disable_optimizations: bool,
    /// The directory Go writes each binary into, under its
    /// [`exec_name`].
    pub output: PathBuf,
}

impl GoBuild {
    /// Where `go build -o DIR/` writes the binary of `import_path`: its
    /// [`exec_name`], with `.exe` for Windows as Go adds it.
    pub fn output_of(&self, import_path: &str) -> PathBuf {
        let name = exec_name(import_path);
        match self.platform.os.as_str() {
            "windows" => self.output.join(format!("{name}.exe")),
            _ => self.output.join(name),
        }
    }
}

/// The platform's Go environment: GOOS, GOARCH and the variant's GOARM/GOAMD64.
pub fn platform_env(platform: &Platform) -> Result<Vec<(String, String)>> {
    let mut env = vec![
        ("GOOS".to_string(), platform.os.clone()),
        ("GOARCH".to_string(), platform.arch.clone()),
    ];
    match (platform.arch.as_str(), platform.variant.as_deref()) {
        (_, None) => {}
        ("arm", Some(v)) => env.push(("GOARM".into(), v.trim_start_matches('v').to_string())),
        ("amd64", Some(v)) => env.push(("GOAMD64".into(), v.to_string())),
        ("arm64", Some("v8")) => {}
        (arch, Some(v)) => {
            return Err(Error::invalid(format!(
                "platform {platform}: Go has no variant {v} for {arch}"
            )));
        }
    }
    Ok(env)
}

/// The environment `b` sets over the inherited one, in order: the
/// platform's, then its own.
pub fn env_overrides(b: &GoBuild) -> Result<Vec<(String, String)>> {
    let mut env = platform_env(&b.platform)?;
    env.extend(b.env.iter().cloned());
    Ok(env)
}

/// The build flags of `b` (`go build` and `go list` take the same):
/// `-trimpath`, then ko's `createBuildArgs` flags and `-ldflags`.
pub fn build_args(b: &GoBuild) -> Vec<String> {
    let mut args = vec!["-trimpath".to_string()];
    if b.disable_optimizations {
        args.push("-gcflags=all=-N -l".to_string());
    }
    args.extend(b.flags.iter().cloned());
    if !b.ldflags.is_empty() {
        args.push(format!("-ldflags={}", b.ldflags.join(" ")));
    }
    args
}

/// `go` in `b`'s directory with `b`'s environment, no arguments yet.
pub fn command(b: &GoBuild) -> Result<Command> {
    let mut cmd = Command::new(&b.go);
    cmd.current_dir(&b.dir);
    for (key, value) in env_overrides(b)? {
        cmd.env(key, value);
    }
    Ok(cmd)
}

/// The file name `go build -o DIR/` gives a main package's binary
/// (cmd/go/internal/load `exeFromImportPath`, modules on): the import
/// path's last element, or the one before a major version suffix
/// (`example.com/cmd/v2` is `cmd`).
pub fn exec_name(import_path: &str) -> &str {
    let (parent, elem) = split_last(import_path);
    match parent {
        Some(parent) if is_version_element(elem) => split_last(parent).1,
        _ => elem,
    }
}

fn split_last(path: &str) -> (Option<&str>, &str) {
    match path.rsplit_once('/') {
        Some((parent, elem)) => (Some(parent), elem),
        None => (None, path),
    }
}

/// cmd/go/internal/load `isVersionElement`: `v2`, `v3`, … (not `v0`, `v1`).
fn is_version_element(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() < 2
        || bytes[0] != b'v'
        || bytes[1] == b'0'
        || (bytes[1] == b'1' && bytes.len() == 2)
    {
        return false;
    }
    bytes[1..].iter().all(u8::is_ascii_digit)
}

/// Runs `go build -o DIR/ PKG…` and returns once every binary is in
/// `b.output`. Go leaves an up-to-date output in place (it only touches
/// its mtime), so a binary linked there beforehand spares relinking.
pub fn build(b: &GoBuild) -> Result<()> {
    let mut output_dir = b.output.clone().into_os_string();
    output_dir.push("/");
    let output = command(b)?
        .arg("build")
        .args(build_args(b))
        .arg("-o")
        .arg(output_dir)
        .args(&b.import_paths)
        .output()
        .map_err(|e| missing_go(&b.go, e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(5)
            .collect();
        return Err(Error::tool(
            format!("go build {} for {}", b.import_paths.join(" "), b.platform),
            message.join(" | "),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cmd/go/internal/load `exeFromImportPath` and `isVersionElement`.
    #[test]
    fn go_names_a_binary_by_its_import_path_without_a_major_version() {
        let cases = [
            ("example.com/m/cmd/app", "app"),
            ("example.com/m/v2", "m"),
            ("example.com/m/cmd/app/v3", "app"),
            ("example.com/m/v1", "v1"),
            ("example.com/m/v0", "v0"),
            ("example.com/m/v2x", "v2x"),
            ("example.com/m/v10", "m"),
            ("hello", "hello"),
            ("v2", "v2"),
        ];
        for (import_path, want) in cases {
            assert_eq!(exec_name(import_path), want, "{import_path}");
        }
    }
}

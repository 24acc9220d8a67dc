//! The Go toolchain, as ko drives it: `go list` to resolve what to build,
//! `go build -trimpath` with the platform's GOOS/GOARCH/GOARM/GOAMD64.

use crate::error::{Error, Result};
use crate::image::platform::Platform;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A main package, as `go list` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub import_path: String,
    pub dir: PathBuf,
    pub module_path: String,
    pub module_dir: PathBuf,
}

impl Package {
    /// The binary's name: the import path's last element, as ko names it.
    pub fn binary_name(&self) -> String {
        self.import_path
            .rsplit('/')
            .next()
            .unwrap_or(&self.import_path)
            .to_string()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    #[serde(default)]
    import_path: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    dir: PathBuf,
    module: Option<ListedModule>,
    error: Option<ListedError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedModule {
    path: String,
    dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedError {
    err: String,
}

/// Like [`list`], remembering the answer in `cache_dir` for as long as the
/// files it depends on (the package directory and its go.mod) keep their
/// size and modification time: a no-op rebuild then skips `go list`.
pub fn list_cached(go: &Path, dir: &Path, target: &str, cache_dir: &Path) -> Result<Package> {
    let key = crate::porcelain::cache::key(&[
        &go.display().to_string(),
        &dir.display().to_string(),
        target,
    ]);
    let entry = cache_dir.join(format!("{key}.json"));
    if let Ok(text) = std::fs::read_to_string(&entry) {
        let cached: Option<CachedList> = serde_json::from_str(&text).ok();
        if let Some(cached) = cached.filter(|c| c.stamp == stamp(&c.package_dir, &c.module_dir)) {
            return Ok(Package {
                import_path: cached.import_path,
                dir: cached.package_dir,
                module_path: cached.module_path,
                module_dir: cached.module_dir,
            });
        }
    }
    let package = list(go, dir, target)?;
    let cached = CachedList {
        stamp: stamp(&package.dir, &package.module_dir),
        import_path: package.import_path.clone(),
        package_dir: package.dir.clone(),
        module_path: package.module_path.clone(),
        module_dir: package.module_dir.clone(),
    };
    // A cache that cannot be written only costs the next run a `go list`.
    let _ = crate::atomic::write_file(&entry, &serde_json::to_vec(&cached).expect("serializes"));
    Ok(package)
}

#[derive(serde::Serialize, Deserialize)]
struct CachedList {
    stamp: String,
    import_path: String,
    package_dir: PathBuf,
    module_path: String,
    module_dir: PathBuf,
}

/// Size and mtime of the package directory and go.mod.
fn stamp(package_dir: &Path, module_dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    [package_dir.to_path_buf(), module_dir.join("go.mod")]
        .iter()
        .map(|p| match std::fs::metadata(p) {
            Ok(m) => format!(
                "{}:{}:{}:{}",
                p.display(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            ),
            Err(_) => format!("{}:missing", p.display()),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Resolves `target` (`./cmd/app`, `example.com/m/cmd/app`, `hello.go`,
/// with or without `ko://`) from `dir` to a main package.
pub fn list(go: &Path, dir: &Path, target: &str) -> Result<Package> {
    let target = target.strip_prefix("ko://").unwrap_or(target);
    // A Go file stands for its package's directory.
    let target = if target.ends_with(".go") {
        match Path::new(target)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
        {
            Some(parent) if !parent.is_empty() => {
                if parent.starts_with('.') || parent.starts_with('/') {
                    parent
                } else {
                    format!("./{parent}")
                }
            }
            _ => ".".to_string(),
        }
    } else {
        target.to_string()
    };
    let output = Command::new(go)
        .args([
            "list",
            "-e",
            "-json=ImportPath,Name,Dir,Module,Error",
            &target,
        ])
        .current_dir(dir)
        .output()
        .map_err(|e| missing_go(go, e))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(Error::tool(
            format!("go list {target}"),
            go_message(&stderr),
        ));
    }
    let listed: Listed = serde_json::from_slice(&output.stdout).map_err(|e| {
        Error::tool(
            format!("go list {target}"),
            format!("unexpected output ({e})"),
        )
    })?;
    if let Some(error) = listed.error {
        return Err(Error::tool(
            format!("go list {target}"),
            go_message(&error.err),
        ));
    }
    if listed.name != "main" {
        return Err(Error::reference(
            target,
            format!(
                "{} is package {}, not a main package: only commands can be built into images",
                listed.import_path, listed.name
            ),
        ));
    }
    let module = listed.module.ok_or_else(|| {
        Error::reference(
            target,
            format!(
                "is not in a Go module (no go.mod above {})",
                listed.dir.display()
            ),
        )
    })?;
    Ok(Package {
        import_path: listed.import_path,
        module_dir: module.dir.unwrap_or_else(|| listed.dir.clone()),
        module_path: module.path,
        dir: listed.dir,
    })
}

/// Go's message in one line: its first line and the indented lines that
/// continue it ("no required module provides package P; to add it:" then
/// "\tgo get P"), so that it never stops mid-sentence.
fn go_message(text: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
    let Some(first) = lines.next() else {
        return "failed".to_string();
    };
    let mut message = first.trim().to_string();
    for line in lines.take_while(|l| l.starts_with(char::is_whitespace) && !l.trim().is_empty()) {
        message.push(' ');
        message.push_str(line.trim());
    }
    message
}

fn missing_go(go: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::tool(
            go.display().to_string(),
            "cannot run: Go is not installed or not on PATH (install Go, or set KO_GO_PATH to the go binary)",
        )
    } else {
        Error::tool(go.display().to_string(), format!("cannot run: {e}"))
    }
}

/// One `go build`.
#[derive(Debug, Clone)]
pub struct GoBuild {
    pub go: PathBuf,
    /// Where `go build` runs.
    pub dir: PathBuf,
    pub import_path: String,
    pub platform: Platform,
    /// Extra environment (`CGO_ENABLED`, `.ko.yaml`'s env), applied in order.
    pub env: Vec<(String, String)>,
    pub flags: Vec<String>,
    pub ldflags: Vec<String>,
    pub disable_optimizations: bool,
    pub output: PathBuf,
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

/// Runs `go build` and returns once the binary is at `output`. Go leaves an
/// up-to-date output untouched, so a stable output path spares relinking.
pub fn build(b: &GoBuild) -> Result<()> {
    let mut cmd = Command::new(&b.go);
    cmd.arg("build").arg("-trimpath");
    if b.disable_optimizations {
        cmd.arg("-gcflags=all=-N -l");
    }
    cmd.args(&b.flags);
    if !b.ldflags.is_empty() {
        cmd.arg(format!("-ldflags={}", b.ldflags.join(" ")));
    }
    cmd.arg("-o")
        .arg(&b.output)
        .arg(&b.import_path)
        .current_dir(&b.dir);
    for (key, value) in platform_env(&b.platform)?
        .into_iter()
        .chain(b.env.iter().cloned())
    {
        cmd.env(key, value);
    }
    let output = cmd.output().map_err(|e| missing_go(&b.go, e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(5)
            .collect();
        return Err(Error::tool(
            format!("go build {} for {}", b.import_path, b.platform),
            message.join(" | "),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_messages_are_whole_and_on_one_line() {
        let cases = [
            (
                "no required module provides package example.com/x; to add it:\n\tgo get example.com/x",
                "no required module provides package example.com/x; to add it: go get example.com/x",
            ),
            (
                "\ngo: go.mod file not found in current directory or any parent directory; see 'go help modules'\n",
                "go: go.mod file not found in current directory or any parent directory; see 'go help modules'",
            ),
            ("stat /m/cmd/nothere: directory not found", "stat /m/cmd/nothere: directory not found"),
            ("first error\nsecond error\n\tits detail", "first error"),
            ("", "failed"),
        ];
        for (text, expected) in cases {
            assert_eq!(go_message(text), expected, "{text:?}");
        }
    }
}

//! The Go toolchain, as ko drives it: `go list` to resolve what to build,
//! `go build -trimpath` with the platform's GOOS/GOARCH/GOARM/GOAMD64.

use super::goinputs;
use crate::error::{Error, Result};
use crate::image::platform::Platform;
use serde::Deserialize;
use std::collections::BTreeMap;
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

/// Like [`list`], remembering the answer in `cache_dir` for as long as
/// what decides it is unchanged, by content rather than by mtime: the `go`
/// command, the environment it inherits, the go.mod, go.work and
/// vendor/modules.txt Go finds from `dir`, the go.mod files between the
/// package and its module's root, and the package clause of each Go file
/// in the package's directory. A no-op rebuild, an editor saving by rename
/// (a new directory mtime) and an edit below the package clause all skip
/// `go list`.
pub fn list_cached(
    go: &Path,
    env: &BTreeMap<String, String>,
    dir: &Path,
    target: &str,
    cache_dir: &Path,
) -> Result<Package> {
    let entry = |target: &str| {
        let target = target.strip_prefix("ko://").unwrap_or(target);
        let key = crate::porcelain::cache::key(&[
            &go.display().to_string(),
            &dir.display().to_string(),
            target,
        ]);
        cache_dir.join(format!("{key}.json"))
    };
    let answer_key = |package: &Package| list_key(go, env, dir, package);
    if let Ok(text) = std::fs::read_to_string(entry(target)) {
        let cached: Option<CachedList> = serde_json::from_str(&text).ok();
        if let Some(cached) = cached {
            let package = Package {
                import_path: cached.import_path,
                dir: cached.package_dir,
                module_path: cached.module_path,
                module_dir: cached.module_dir,
            };
            if cached.key == answer_key(&package) {
                return Ok(package);
            }
        }
    }
    // What decides the answer, read before `go list` reads it: a change
    // made meanwhile shows at the next run.
    let package = list(go, dir, target)?;
    let cached = CachedList {
        key: answer_key(&package),
        import_path: package.import_path.clone(),
        package_dir: package.dir.clone(),
        module_path: package.module_path.clone(),
        module_dir: package.module_dir.clone(),
    };
    // Remembered for the import path too, as `rko resolve` names it
    // (`ko://IMPORT_PATH`) after `rko build ./cmd/app`. A cache that cannot
    // be written only costs the next run a `go list`.
    let bytes = serde_json::to_vec(&cached).expect("serializes");
    for target in [target, &package.import_path] {
        let _ = crate::atomic::write_file(&entry(target), &bytes);
    }
    Ok(package)
}

#[derive(serde::Serialize, Deserialize)]
struct CachedList {
    key: String,
    import_path: String,
    package_dir: PathBuf,
    module_path: String,
    module_dir: PathBuf,
}

/// A digest of what decides `go list`'s answer `package` for a target
/// looked up from `dir` (see [`list_cached`]).
fn list_key(go: &Path, env: &BTreeMap<String, String>, dir: &Path, package: &Package) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut text = String::from("rko go list 1\n");
    let go = goinputs::resolve_go(go, env, dir).unwrap_or_else(|| go.to_path_buf());
    let meta = std::fs::metadata(&go).ok();
    let go_stamp = meta.map(|m| (m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ino()));
    text.push_str(&format!("go {} {go_stamp:?}\n", go.display()));
    for (key, value) in env.iter().filter(|(key, _)| goinputs::inherited_input(key)) {
        text.push_str(&format!("env {key}={value}\0"));
    }
    let content = |path: &Path| match std::fs::read(path) {
        Ok(bytes) => format!("{} {}\n", path.display(), crate::digest::sha256(&bytes)),
        Err(_) => format!("{} missing\n", path.display()),
    };
    let mut found_mod = false;
    let mut found_work = false;
    for ancestor in dir.ancestors() {
        for (name, found) in [("go.mod", &mut found_mod), ("go.work", &mut found_work)] {
            if !*found {
                let path = ancestor.join(name);
                text.push_str(&content(&path));
                *found = path.is_file();
                if name == "go.mod" && *found {
                    text.push_str(&content(&ancestor.join("vendor/modules.txt")));
                }
            }
        }
    }
    for ancestor in package.dir.ancestors() {
        text.push_str(&content(&ancestor.join("go.mod")));
        if ancestor == package.module_dir || !ancestor.starts_with(&package.module_dir) {
            break;
        }
    }
    text.push_str(&package_clauses(&package.dir));
    crate::digest::sha256(text.as_bytes()).to_string()
}

/// Each Go file of `dir` with the package it declares, one a line.
fn package_clauses(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".go") && goinputs::source_file(name))
        .collect();
    names.sort();
    let mut text = String::new();
    for name in names {
        let head = read_head(&dir.join(&name));
        let clause = package_clause(&head).unwrap_or("?");
        text.push_str(&format!("{name} {clause}\n"));
    }
    text
}

/// The first 64 KiB of a file (where a package clause is), as text.
fn read_head(path: &Path) -> String {
    use std::io::Read;
    let mut head = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(64 * 1024).read_to_end(&mut head);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The package a Go file declares: the identifier after `package`, once a
/// byte order mark, comments and blank lines are skipped.
fn package_clause(text: &str) -> Option<&str> {
    let mut rest = text.strip_prefix('\u{feff}').unwrap_or(text);
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/")?.1;
        } else {
            break;
        }
    }
    let after = rest.strip_prefix("package")?;
    if !after.starts_with(char::is_whitespace) {
        return None;
    }
    let name = after
        .trim_start()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()?;
    (!name.is_empty()).then_some(name)
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

    /// What go/build reads as a file's package clause (go/build `readGoInfo`):
    /// after comments, before anything else.
    #[test]
    fn the_package_clause_is_read_past_comments() {
        let cases = [
            ("package main\n", Some("main")),
            (
                "// Copyright\n\n//go:build linux\n\npackage main // the command\n",
                Some("main"),
            ),
            ("/* a\n block */ package\tfoo_test\n", Some("foo_test")),
            ("\u{feff}package main", Some("main")),
            ("packagemain\n", None),
            ("func main() {}\npackage main", None),
            ("/* never closed", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(package_clause(text), want, "{text:?}");
        }
    }

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
